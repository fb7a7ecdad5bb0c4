package orttraining_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the README's table of ONNX Runtime training results")

const (
	batch, height, width = 2, 24, 24
	hidden               = 8 // channels between the two convolutions
	steps                = 5
	// lossTol bounds |ONNX Runtime training's first loss - ONNX Runtime
	// 1.24's loss of the spliced model| relative to the latter: the same
	// float32 graph, run by two releases with different graph optimizations.
	lossTol = 1e-4
	// gradTol bounds, for every parameter, the largest |gradient of ONNX
	// Runtime training's first step - gradient of onnxloss's training graph
	// (export/training)| relative to the largest |gradient| of that
	// parameter in onnxloss's graph: two gradient graphs built independently
	// of the same float32 model, on the same batch and parameters.
	gradTol = 1e-4
)

// convModel is the test's segmentation network: image [N,3,H,W] → 3×3 Conv
// to 8 channels with bias → Relu → 3×3 Conv to the given number of channels
// with bias → out [N,classes,H,W], padding keeping H and W, opset 17.
// Weights are drawn with a fixed seed (He initialisation), biases are small.
// With upsample the first convolution has stride 2 and a bilinear Resize
// to the image's size ends the network, as torchvision's heads do.
func convModel(classes int, seed uint64, upsample bool) *onnxpb.ModelProto {
	rng := rand.New(rand.NewPCG(seed, 3))
	param := func(name string, dims []int64, scale float64) *onnxpb.TensorProto {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float32)), Dims: dims, FloatData: v}
	}
	sym := func(s string) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: s}}
	}
	fixed := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, c int64) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)),
				Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{sym("N"), fixed(c), sym("H"), sym("W")}}}}}}
	}
	conv := func(name string, in, w, b, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String("Conv"), Input: []string{in, w, b}, Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{
				{Name: proto.String("kernel_shape"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{3, 3}},
				{Name: proto.String("pads"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1, 1, 1, 1}},
			}}
	}
	c := int64(classes)
	nodes := []*onnxpb.NodeProto{
		conv("conv1", "image", "conv1.weight", "conv1.bias", "hidden"),
		{Name: proto.String("relu"), OpType: proto.String("Relu"), Input: []string{"hidden"}, Output: []string{"relu"}},
		conv("conv2", "relu", "conv2.weight", "conv2.bias", "out"),
	}
	if upsample {
		nodes[0].Attribute = append(nodes[0].Attribute,
			&onnxpb.AttributeProto{Name: proto.String("strides"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{2, 2}})
		nodes[2].Output = []string{"low"}
		nodes = append(nodes,
			&onnxpb.NodeProto{Name: proto.String("size"), OpType: proto.String("Shape"), Input: []string{"image"}, Output: []string{"size"}},
			&onnxpb.NodeProto{Name: proto.String("resize"), OpType: proto.String("Resize"), Input: []string{"low", "", "", "size"}, Output: []string{"out"},
				Attribute: []*onnxpb.AttributeProto{{Name: proto.String("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("linear")}}})
	}
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("orttraining_test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("conv_relu_conv"),
			Initializer: []*onnxpb.TensorProto{
				param("conv1.weight", []int64{hidden, 3, 3, 3}, math.Sqrt(2.0/27)),
				param("conv1.bias", []int64{hidden}, 0.01),
				param("conv2.weight", []int64{c, hidden, 3, 3}, math.Sqrt(2.0/(9*hidden))),
				param("conv2.bias", []int64{c}, 0.01),
			},
			Node:   nodes,
			Input:  []*onnxpb.ValueInfoProto{vi("image", 3)},
			Output: []*onnxpb.ValueInfoProto{vi("out", c)},
		},
	}
}

// scene is a fixed batch: in each image a bright disc (class 1) and a dark
// square (class 2) on background (class 0), at places that differ between
// images, seen through noise.
type scene struct {
	n, h, w int
	labels  []int64 // [N,H,W]
}

func newScene(n, h, w int) *scene {
	s := &scene{n: n, h: h, w: w, labels: make([]int64, n*h*w)}
	for b := range n {
		cy, cx, r := float64(h)/3+float64(b), float64(w)/3+2*float64(b), float64(min(h, w))/5
		sy, sx, side := h/2+b, w/2-b, min(h, w)/3
		for y := range h {
			for x := range w {
				i := (b*h+y)*w + x
				switch {
				case y >= sy && y < sy+side && x >= sx && x < sx+side:
					s.labels[i] = 2
				case math.Hypot(float64(y)-cy, float64(x)-cx) <= r:
					s.labels[i] = 1
				}
			}
		}
	}
	return s
}

// image returns the scene's image, [N,3,H,W] or with nhwc [N,H,W,3]: the
// class indicators (disc brighter in channel 0, square darker in channel 1)
// plus noise drawn with a fixed seed.
func (s *scene) image(nhwc bool) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(11, 13))
	v := make([]float32, s.n*3*s.h*s.w)
	for b := range s.n {
		for c := range 3 {
			for y := range s.h {
				for x := range s.w {
					l := s.labels[(b*s.h+y)*s.w+x]
					val := 0.3 * rng.NormFloat64()
					switch {
					case c == 0 && l == 1:
						val += 1
					case c == 1 && l == 2:
						val -= 1
					case c == 2:
						val += 0.5 * float64(l)
					}
					i := ((b*3+c)*s.h+y)*s.w + x
					if nhwc {
						i = ((b*s.h+y)*s.w+x)*3 + c
					}
					v[i] = float32(val)
				}
			}
		}
	}
	shape := []int{s.n, 3, s.h, s.w}
	if nhwc {
		shape = []int{s.n, s.h, s.w, 3}
	}
	return tensor.FromFloat32(shape, v)
}

// maps returns float maps shaped like a model output of the given channels
// (nchw): one channel, the foreground (disc or square); several, one per
// class (one-hot of the labels). flip gives 1 - 2·map, a map of signs.
func (s *scene) maps(channels int, flip bool) *tensor.Tensor {
	v := make([]float32, s.n*channels*s.h*s.w)
	for b := range s.n {
		for c := range channels {
			for p := range s.h * s.w {
				l := s.labels[b*s.h*s.w+p]
				on := l == int64(c)
				if channels == 1 {
					on = l > 0
				}
				val := float32(0)
				if on {
					val = 1
				}
				if flip {
					val = 1 - 2*val
				}
				v[(b*channels+c)*s.h*s.w+p] = val
			}
		}
	}
	return tensor.FromFloat32([]int{s.n, channels, s.h, s.w}, v)
}

// feeds makes the inputs a spliced model takes besides the image: the target
// and the loss's extra inputs, with fixed valid values.
func (s *scene) feeds(t *testing.T, rep *export.AppendReport) map[string]*tensor.Tensor {
	t.Helper()
	cfg := rep.Config
	spec, err := losses.Lookup(rep.Loss)
	if err != nil {
		t.Fatal(err)
	}
	channels := cfg.Classes
	if cfg.Mode == losses.Binary {
		channels = 1
	}
	pixels := []int{s.n, s.h, s.w}
	f := map[string]*tensor.Tensor{}
	if cfg.Mode == losses.Multiclass {
		f[rep.Target] = tensor.FromInt64(pixels, slices.Clone(s.labels))
	} else {
		f[rep.Target] = s.maps(channels, false)
	}
	for _, e := range spec.ExtraInputs(cfg) {
		switch e.Kind {
		case losses.PixelWeights: // heavier on the objects
			w := make([]float32, len(s.labels))
			for i, l := range s.labels {
				w[i] = 1 + 0.5*float32(l)
			}
			f[e.Name] = tensor.FromFloat32(pixels, w)
		case losses.ChannelMap: // a signed map: +1 outside a class, -1 inside
			f[e.Name] = s.maps(channels, true)
		case losses.InstanceLabels: // the disc is instance 1, the square 2
			f[e.Name] = tensor.FromInt64(pixels, slices.Clone(s.labels))
		default:
			t.Fatalf("%s: no values for the extra input %s of kind %d", rep.Loss, e.Name, e.Kind)
		}
	}
	return f
}

// trainCase is one spliced model given to scripts/ort_training.py.
type trainCase struct {
	name    string // file stem
	model   string // "conv" or a torchvision model of testdata/onnx/models
	loss    string
	mode    losses.Mode
	variant string // options beyond the mode, as "key=value", or ""
	path    string
	feeds   map[string]*tensor.Tensor
	params  map[string][]int64 // trainable initializers and their shapes
	base    *onnxpb.ModelProto // the model before the splice
	opts    export.AppendOptions
}

// knownFailure is a configuration that ONNX Runtime 1.19.2 cannot train, and
// why. The test fails when such a configuration trains (remove the entry) or
// fails another way.
type knownFailure struct {
	model    string        // "conv" or a torchvision model
	loss     string        // a loss, or "" for every loss on the model
	modes    []losses.Mode // nil: every mode
	variant  string
	stage    string // generate_artifacts, training, or stageFalls
	contains string // in the error's first line
	mark     string // what the README's table shows
	reason   string
}

// runtimeReason introduces the training graphs that generate_artifacts
// builds but ONNX Runtime cannot run. The same losses train with onnxloss's
// own gradient (go test ./verify -run TestGradients checks it against finite
// differences), and their forward graphs run in ONNX Runtime 1.19.2's
// training session (the error comes from a gradient node).
const runtimeReason = "generate_artifacts builds the artifacts, but the first training step fails inside " +
	"the gradient graph ONNX Runtime 1.19.2 built: "

// stageFalls marks a configuration that trains, with the right gradients,
// but whose loss does not fall over the test's few steps.
const stageFalls = "falls"

// poolReason is the cause of the failures whose losses pool (MaxPool,
// AveragePool) on the path from the logits to the loss.
const poolReason = "The loss pools on the gradient path (MaxPool or AveragePool), and ONNX Runtime 1.19.2's MaxPoolGrad and " +
	"AveragePoolGrad kernels take the shape of their result from the graph's static shapes when the session is made, " +
	"with 0 for every dimension that is not a fixed number: with symbolic N, H and W (and shapes that ONNX's inference " +
	"cannot follow through the graph's input checks), the pooled gradient is empty and the next node that meets it fails."

// The first training step's failures that several losses share.
const (
	reshapeReason = runtimeReason + "a Reshape of a gradient node is asked to reshape {2,3,24,24} to {2,1,24,24}."
	sumReason     = runtimeReason + "the Sum that adds up the gradient contributions to one value (AccumulateGrad_...) gets operands that do not broadcast (\"Can broadcast 0 by 0 or 1\"). " + poolReason
	minReason     = runtimeReason + "a Div of its gradient of an elementwise Min (soft skeleton) gets operands that do not broadcast (\"Can broadcast 0 by 0 or 1\"). " + poolReason
)

var (
	every      = []losses.Mode(nil)
	multiclass = []losses.Mode{losses.Multiclass}
)

var knownFailures = []knownFailure{
	{model: "conv", loss: "combo", modes: multiclass, stage: "training", contains: "cannot be reshaped", mark: "Reshape fails",
		reason: reshapeReason},
	{model: "conv", loss: "exp-log", modes: multiclass, stage: "training", contains: "cannot be reshaped", mark: "Reshape fails",
		reason: reshapeReason},
	{model: "conv", loss: "mcc", modes: multiclass, stage: "training", contains: "cannot be reshaped", mark: "Reshape fails",
		reason: reshapeReason},

	{model: "conv", loss: "boundary-f1", modes: every, stage: "training", contains: "AccumulateGrad_", mark: "gradient sum fails",
		reason: sumReason},
	{model: "conv", loss: "duo", modes: multiclass, stage: "training", contains: "AccumulateGrad_", mark: "gradient sum fails",
		reason: sumReason},
	{model: "conv", loss: "hausdorff-er", modes: every, stage: "training", contains: "AccumulateGrad_", mark: "gradient sum fails",
		reason: sumReason},
	{model: "conv", loss: "ms-ssim", modes: every, stage: "training", contains: "AccumulateGrad_", mark: "gradient sum fails",
		reason: sumReason},
	{model: "conv", loss: "unet3p-hybrid", modes: every, stage: "training", contains: "AccumulateGrad_", mark: "gradient sum fails",
		reason: sumReason},

	{model: "conv", loss: "cldice", modes: every, stage: "training", contains: "skeleton_input/Min_3_Grad", mark: "Min gradient fails",
		reason: minReason},
	{model: "conv", loss: "dice-cldice", modes: every, stage: "training", contains: "skeleton_input/Min_3_Grad", mark: "Min gradient fails",
		reason: minReason},

	{model: "conv", loss: "shape-aware", modes: []losses.Mode{losses.Multilabel}, stage: stageFalls, mark: "loss rises first",
		reason: "the model trains and its first-step gradients equal onnxloss's own, but the loss rises over the first AdamW steps " +
			"before it falls (below its start after ten steps at this learning rate): the weight E, the distance of each predicted " +
			"contour pixel to the target's contour, comes from the thresholded prediction and carries no gradient, so the steps " +
			"that lower the cross-entropy move the predicted contours and change E. With a learning rate ten times smaller the " +
			"first step lowers the loss."},

	{model: "fcn_small", stage: "generate_artifacts", contains: "has not been registered: HardSwish", mark: "no HardSwish gradient",
		reason: "the MobileNetV3 backbone uses HardSwish and HardSigmoid, which have no gradient builder in ONNX Runtime 1.19.2 " +
			"(\"The gradient builder has not been registered: HardSwish\"); the loss is never reached."},
	{model: "lraspp_small_nhwc", stage: "generate_artifacts", contains: "has not been registered: HardSwish", mark: "no HardSwish gradient",
		reason: "the MobileNetV3 backbone uses HardSwish and HardSigmoid, which have no gradient builder in ONNX Runtime 1.19.2 " +
			"(\"The gradient builder has not been registered: HardSwish\"); the loss is never reached."},
	{model: "deeplabv3_small_softmax", stage: "generate_artifacts", contains: "has not been registered: HardSigmoid", mark: "no HardSigmoid gradient",
		reason: "the MobileNetV3 backbone uses HardSwish and HardSigmoid, which have no gradient builder in ONNX Runtime 1.19.2 " +
			"(\"The gradient builder has not been registered: HardSigmoid\"); the loss is never reached."},
	{model: resizeModel, stage: "training", contains: "implementation for ResizeGrad", mark: "no CPU ResizeGrad",
		reason: "Resize has a gradient builder, so generate_artifacts succeeds, but the CPU build has no ResizeGrad kernel: " +
			"\"Could not find an implementation for ResizeGrad(1) node\" when the training session is created. " +
			"Every torchvision segmentation head ends with a bilinear Resize."},
}

// gradDifference is a configuration that trains through ONNX Runtime's
// artifacts but whose first-step gradients differ from those of onnxloss's
// training graph by more than gradTol, for a documented reason. The test
// fails when such a configuration's gradients agree (remove the entry).
type gradDifference struct {
	loss    string
	modes   []losses.Mode // nil: every mode
	variant string
	mark    string // what the README's table shows
	reason  string
}

var gradDifferences = []gradDifference{}

func (d gradDifference) matches(c *trainCase) bool {
	return c.model == "conv" && d.loss == c.loss && d.variant == c.variant && (d.modes == nil || slices.Contains(d.modes, c.mode))
}

func gradDifferenceFor(c *trainCase) *gradDifference {
	for i := range gradDifferences {
		if gradDifferences[i].matches(c) {
			return &gradDifferences[i]
		}
	}
	return nil
}

func (k knownFailure) matches(c *trainCase) bool {
	return k.model == c.model && (k.loss == "" || k.loss == c.loss) && k.variant == c.variant &&
		(k.modes == nil || slices.Contains(k.modes, c.mode))
}

func knownFor(c *trainCase) *knownFailure {
	for i := range knownFailures {
		if knownFailures[i].matches(c) {
			return &knownFailures[i]
		}
	}
	return nil
}

// result is what scripts/ort_training.py writes for a model.
type result struct {
	Model        string            `json:"model"`
	RequiresGrad []string          `json:"requires_grad"`
	Artifacts    bool              `json:"artifacts"`
	Error        *string           `json:"error"`
	ErrorStage   *string           `json:"error_stage"`
	Losses       []*float64        `json:"losses"`
	Grads        map[string]string `json:"grads"`
}

// trained reports whether the model trained: artifacts, every step's loss
// finite, no error.
func (r *result) trained() bool {
	if !r.Artifacts || r.Error != nil || len(r.Losses) != steps {
		return false
	}
	for _, l := range r.Losses {
		if l == nil {
			return false
		}
	}
	return true
}

func (r *result) falls() bool { return r.trained() && *r.Losses[steps-1] < *r.Losses[0] }

func (r *result) String() string {
	if r.Error != nil {
		return fmt.Sprintf("%s failed: %s", deref(r.ErrorStage), *r.Error)
	}
	var ls []string
	for _, l := range r.Losses {
		if l == nil {
			ls = append(ls, "NaN/Inf")
		} else {
			ls = append(ls, fmt.Sprintf("%.6g", *l))
		}
	}
	return "losses " + strings.Join(ls, " ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// torchvisionModels and torchvisionLosses are the small torchvision models
// (scripts/export_models.py --set small) and the losses spliced onto them.
var (
	torchvisionModels = []string{"fcn_small", "deeplabv3_small_softmax", "lraspp_small_nhwc", resizeModel}
	torchvisionLosses = []string{"cross-entropy", "dice", "lovasz-softmax"}
)

// TestTrainingArtifacts splices every registered loss, in every mode it
// supports, onto a Conv-Relu-Conv network (3 channels for multiclass and
// multilabel, 1 for binary), and cross-entropy, Dice and Lovász-Softmax onto
// the small torchvision models, and runs scripts/ort_training.py on them:
// generate_artifacts(loss=None) must succeed and five AdamW steps on a fixed
// batch must lower the loss, except for the documented knownFailures. The
// first step's loss must equal the spliced model's loss in ONNX Runtime
// 1.24, and its parameter gradients must be finite with the parameters'
// shapes and equal, within gradTol, those of onnxloss's own training graph
// (export/training) of the same model, batch and parameters, run in ONNX
// Runtime 1.24, except for the documented gradDifferences.
func TestTrainingArtifacts(t *testing.T) {
	testutil.RequireRuntime(t)
	testutil.Venv(t, "ort-training")
	dir, out := t.TempDir(), t.TempDir()
	var cases []*trainCase
	for _, spec := range losses.All() {
		for _, mode := range spec.Modes {
			cases = append(cases, convCase(t, dir, spec.Name, mode, ""))
		}
	}
	for _, mode := range []losses.Mode{losses.Multiclass, losses.Binary, losses.Multilabel} {
		cases = append(cases, convCase(t, dir, "boundary", mode, "distance=input"))
	}
	for _, m := range torchvisionModels {
		for _, l := range torchvisionLosses {
			cases = append(cases, torchvisionCase(t, dir, m, l))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	log := testutil.RunVenvScript(t, "ort-training", "ort_training.py", dir, out, "--steps", fmt.Sprint(steps))
	t.Logf("ort_training.py:\n%s", log)

	results, grads := map[string]*result{}, map[string]*gradCheck{}
	worst := gradCheck{}
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join(out, c.name+".json"))
		if err != nil {
			t.Fatalf("%s: ort_training.py wrote no result: %v", c.name, err)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s.json: %v", c.name, err)
		}
		results[c.name] = &r
		if g := checkCase(t, c, &r, out); g != nil {
			grads[c.name] = g
			if g.equal && g.diff > worst.diff {
				worst = *g
			}
		}
	}
	t.Logf("%d configurations trained; the largest gradient difference of those that agree: %.3g of the largest |gradient| of %s in %s",
		len(grads), worst.diff, worst.param, worst.name)
	for _, d := range gradDifferences {
		if !slices.ContainsFunc(cases, func(c *trainCase) bool { return d.matches(c) && grads[c.name] != nil }) {
			t.Errorf("the gradient difference of %s matches no configuration that trains: remove it", d.loss)
		}
	}
	for _, k := range knownFailures {
		if !slices.ContainsFunc(cases, func(c *trainCase) bool { return k.matches(c) }) {
			t.Errorf("the known failure of %s on %s matches no configuration: remove it", k.loss, k.model)
		}
	}
	checkREADME(t, markdown(cases, results, grads))
}

// checkCase compares one model's outcome with what is expected of it and,
// for a model that trains, returns how its first-step gradients compare with
// onnxloss's training graph.
func checkCase(t *testing.T, c *trainCase, r *result, out string) *gradCheck {
	t.Helper()
	k := knownFor(c)
	if k != nil && k.stage != stageFalls {
		if r.Artifacts && r.Error == nil {
			t.Errorf("%s: known to fail (%s), but it ran (%s): remove it from knownFailures and rewrite the README's table (-update)", c.name, k.mark, r)
		} else if deref(r.ErrorStage) != k.stage || !strings.Contains(deref(r.Error), k.contains) {
			t.Errorf("%s: %s; want a failure in %s with %q", c.name, r, k.stage, k.contains)
		} else {
			t.Logf("%s: fails as documented: %s", c.name, r)
		}
		return nil
	}
	if !r.trained() {
		t.Errorf("%s: %s", c.name, r)
		return nil
	}
	switch {
	case !r.falls() && k == nil:
		t.Errorf("%s: the loss does not fall over %d AdamW steps: %s", c.name, steps, r)
	case !r.falls():
		t.Logf("%s: the loss does not fall, as documented (%s): %s", c.name, k.mark, r)
	case k != nil:
		t.Errorf("%s: known not to fall (%s), but it falls (%s): remove it from knownFailures and rewrite the README's table (-update)", c.name, k.mark, r)
	}
	// The training graph computes the spliced model's loss.
	want := inferenceLoss(t, c)
	if got := *r.Losses[0]; math.Abs(got-want) > lossTol*math.Abs(want)+1e-7 {
		t.Errorf("%s: first training loss %.7g; the spliced model gives %.7g in ONNX Runtime", c.name, got, want)
	}
	// Every parameter gets a finite gradient of its own shape.
	if want, got := sortedKeys(c.params), slices.Sorted(slices.Values(r.RequiresGrad)); !slices.Equal(want, got) {
		t.Errorf("%s: requires_grad %v, want %v", c.name, got, want)
	}
	total := 0.0
	ortGrads := map[string]*tensor.Tensor{}
	for name, dims := range c.params {
		g, err := tensor.LoadNPY(filepath.Join(out, c.name+".grads", r.Grads[name]))
		if err != nil {
			t.Errorf("%s: gradient of %s: %v", c.name, name, err)
			continue
		}
		ortGrads[name] = g
		if !slices.Equal(intDims(dims), g.Shape) {
			t.Errorf("%s: gradient of %s has shape %v, want %v", c.name, name, g.Shape, dims)
		}
		for _, v := range g.Float64s() {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: gradient of %s is not finite", c.name, name)
				break
			}
			total += math.Abs(v)
		}
	}
	if total == 0 {
		t.Errorf("%s: every parameter gradient is zero", c.name)
	}
	if len(ortGrads) != len(c.params) {
		return nil
	}
	g := compareGradients(t, c, ortGrads)
	if g == nil {
		return nil
	}
	switch d := gradDifferenceFor(c); {
	case d != nil && g.equal:
		t.Errorf("%s: documented to differ (%s), but the gradients agree (%.3g of the largest |gradient| of %s): remove it from gradDifferences and rewrite the README's table (-update)",
			c.name, d.mark, g.diff, g.param)
	case d != nil:
		t.Logf("%s: gradients differ as documented (%s): %.3g of the largest |gradient| of %s", c.name, d.mark, g.diff, g.param)
	case !g.equal:
		t.Errorf("%s: ONNX Runtime training's first-step gradient of %s differs from onnxloss's training graph's by %.3g of its largest |gradient| (tolerance %g)",
			c.name, g.param, g.diff, gradTol)
	}
	return g
}

// gradCheck is how a configuration's first-step gradients in ONNX Runtime
// training compare with those of onnxloss's training graph.
type gradCheck struct {
	name, param string  // the configuration and the parameter of the largest difference
	diff        float64 // max |ORT - onnxloss| / max |onnxloss| over that parameter's gradient
	equal       bool    // diff <= gradTol for every parameter
}

// compareGradients builds onnxloss's training graph (export/training) of
// the case's model and loss, runs it in ONNX Runtime 1.24 on the case's
// batch with the model's initial parameters, and compares every parameter's
// gradient with ONNX Runtime training's of the first step.
func compareGradients(t *testing.T, c *trainCase, ortGrads map[string]*tensor.Tensor) *gradCheck {
	t.Helper()
	m, rep, err := training.Build(c.base, training.Options{Append: c.opts})
	if err != nil {
		t.Errorf("%s: training.Build: %v", c.name, err)
		return nil
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	sess, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: the training graph: %v", c.name, err)
	}
	defer sess.Close()
	res, err := sess.Run(c.feeds)
	if err != nil {
		t.Fatalf("%s: the training graph: %v", c.name, err)
	}
	g := &gradCheck{name: c.name, equal: true}
	for _, p := range rep.Params {
		ours, theirs := res[training.GradName(p)], ortGrads[p]
		if ours == nil || theirs == nil {
			t.Errorf("%s: gradient of %s: training graph %v, ONNX Runtime training %v", c.name, p, ours != nil, theirs != nil)
			return nil
		}
		a, o := ours.Float64s(), theirs.Float64s()
		if !slices.Equal(ours.Shape, theirs.Shape) {
			t.Errorf("%s: gradient of %s has shape %v in the training graph, %v in ONNX Runtime training", c.name, p, ours.Shape, theirs.Shape)
			return nil
		}
		scale, diff := 0.0, 0.0
		for i := range a {
			scale = max(scale, math.Abs(a[i]))
			diff = max(diff, math.Abs(a[i]-o[i]))
		}
		rel := diff / scale
		if scale == 0 {
			rel = math.Inf(1)
			if diff == 0 {
				rel = 0
			}
		}
		if rel > g.diff || g.param == "" {
			g.diff, g.param = rel, p
		}
		if !(rel <= gradTol) {
			g.equal = false
		}
	}
	if len(rep.Params) != len(ortGrads) {
		t.Errorf("%s: the training graph has %d parameters, ONNX Runtime training %d", c.name, len(rep.Params), len(ortGrads))
	}
	return g
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

func intDims(d []int64) []int {
	out := make([]int, len(d))
	for i, v := range d {
		out[i] = int(v)
	}
	return out
}

// inferenceLoss runs the spliced model in ONNX Runtime (1.24 or newer, the
// runtime the rest of onnxloss uses) on the case's batch.
func inferenceLoss(t *testing.T, c *trainCase) float64 {
	t.Helper()
	sess, err := runtime.NewSessionFromFile(c.path, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer sess.Close()
	res, err := sess.Run(c.feeds)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return res["loss"].Float64s()[0]
}

// convCase splices a loss onto convModel and writes the model and its batch.
func convCase(t *testing.T, dir, loss string, mode losses.Mode, variant string) *trainCase {
	t.Helper()
	classes := 3
	if mode == losses.Binary {
		classes = 1
	}
	opts := losses.Options{"mode": string(mode)}
	name := loss + "." + string(mode)
	if variant != "" {
		k, v, _ := strings.Cut(variant, "=")
		opts[k] = v
		name += "." + k + "-" + v
	}
	base, ao := convModel(classes, 1, false), export.AppendOptions{Loss: loss, LossOptions: opts}
	m, rep, err := export.Append(base, ao)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return &trainCase{name: name}
	}
	s := newScene(batch, height, width)
	feeds := s.feeds(t, rep)
	feeds["image"] = s.image(false)
	return writeCase(t, dir, &trainCase{name: name, model: "conv", loss: loss, mode: mode, variant: variant, feeds: feeds,
		base: base, opts: ao}, m)
}

// resizeModel names convModel with upsample among the torchvision models:
// it isolates their bilinear Resize.
const resizeModel = "conv_resize"

// torchvisionCase splices a multiclass loss onto a small torchvision model
// (or resizeModel).
func torchvisionCase(t *testing.T, dir, model, loss string) *trainCase {
	t.Helper()
	var base *onnxpb.ModelProto
	var image *tensor.Tensor
	if model == resizeModel {
		base, image = convModel(3, 1, true), newScene(batch, height, width).image(false)
	} else {
		lm, err := export.LoadModel(filepath.Join(testutil.Root(t), "testdata", "onnx", "models", model+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		base = lm.Proto
		if image, err = tensor.LoadNPY(filepath.Join(testutil.Root(t), "testdata", "onnx", "models", model+".input.npy")); err != nil {
			t.Fatal(err)
		}
	}
	ao := export.AppendOptions{Loss: loss}
	m, rep, err := export.Append(base, ao)
	name := model + "." + loss
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return &trainCase{name: name}
	}
	nhwc := string(rep.Config.Layout) == "nhwc"
	h, w := image.Shape[2], image.Shape[3]
	if nhwc {
		h, w = image.Shape[1], image.Shape[2]
	}
	s := newScene(image.Shape[0], h, w)
	feeds := s.feeds(t, rep)
	feeds["image"] = image
	return writeCase(t, dir, &trainCase{name: name, model: model, loss: loss, mode: rep.Config.Mode, feeds: feeds,
		base: base, opts: ao}, m)
}

// writeCase writes NAME.onnx and NAME.inputs/*.npy for scripts/ort_training.py
// and notes the model's trainable parameters: its float initializers not
// added by the splice.
func writeCase(t *testing.T, dir string, c *trainCase, m *onnxpb.ModelProto) *trainCase {
	t.Helper()
	c.path = filepath.Join(dir, c.name+".onnx")
	if err := export.Save(c.path, m); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, c.name+".inputs")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range c.feeds {
		if err := tensor.SaveNPY(filepath.Join(in, k+".npy"), v); err != nil {
			t.Fatal(err)
		}
	}
	c.params = map[string][]int64{}
	for _, init := range m.Graph.Initializer {
		if init.GetDataType() == int32(tensor.Float32) && !strings.HasPrefix(init.GetName(), export.DefaultPrefix) {
			c.params[init.GetName()] = init.GetDims()
		}
	}
	return c
}
