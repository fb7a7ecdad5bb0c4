package param

// DistanceTransform holds the options of the in-graph Euclidean distance
// transform that the distance family's maps come from.
type DistanceTransform struct {
	// Spacing is the pixel size along each spatial axis: one value, or one
	// per axis; nil: 1.
	Spacing []float64
	// MaxDistance truncates distances at this value, in spacing units (0:
	// exact).
	MaxDistance float64
}

// Declare binds spacing and max_distance, and returns them for the
// conditions of the loss that declares them.
func (p *DistanceTransform) Declare(s *Set) (spacing, maxDistance *Param) {
	spacing = declareSpacing(s, &p.Spacing)
	maxDistance = s.Float(&p.MaxDistance, "max_distance", 0,
		"truncate distances at this value, in spacing units (0: exact); exact below it, and it bounds the distance transform's time").AtLeast(0)
	return spacing, maxDistance
}

// uniform reports whether the spacing is the same along every axis (unset
// included).
func (p *DistanceTransform) uniform() bool {
	for _, v := range p.Spacing {
		if v != p.Spacing[0] {
			return false
		}
	}
	return true
}

// declareSpacing declares spacing, which unet-weight-map takes without
// max_distance.
func declareSpacing(s *Set, v *[]float64) *Param {
	return s.Floats(v, "spacing", nil,
		"pixel size along each spatial axis, one value or one per axis (unset: 1), for anisotropic voxels; distances are in these units (SciPy's sampling)").Above(0)
}

// DistanceBackground holds include_background of the distance losses that
// can leave out channel 0.
type DistanceBackground struct {
	// IncludeBackground keeps channel 0 in multiclass and multilabel mode.
	IncludeBackground bool
}

// Declare binds include_background with its default and the note on who
// uses which value. Binary mode has no channel to leave out.
func (p *DistanceBackground) Declare(s *Set, def bool, who string) {
	c := s.Common()
	s.Bool(&p.IncludeBackground, "include_background", def,
		"keep channel 0 in multiclass and multilabel mode (binary mode always uses its channel); "+who).
		Matters("--mode multiclass or multilabel (binary mode always uses its one channel)", func() bool { return c.Mode != Binary })
}

// DistanceSource says where boundary's signed distance map comes from.
type DistanceSource string

// The sources of the map.
const (
	// DistanceFromTarget computes the map in the graph from the target.
	DistanceFromTarget DistanceSource = "target"
	// DistanceFromInput reads the extra input distance_map.
	DistanceFromInput DistanceSource = "input"
)

// SDF is boundary's signed distance convention.
type SDF string

// The conventions.
const (
	// SDFKervadec is d_out outside and -(d_in - 1) inside (LIVIAETS/boundary-loss one_hot2dist).
	SDFKervadec SDF = "kervadec"
	// SDFSigned is d_out outside and -d_in inside.
	SDFSigned SDF = "signed"
	// SDFSegLoss is SDFSigned with the inner boundary layer 0 (SegLoss).
	SDFSegLoss SDF = "segloss"
)

// Boundary is the parameter set of the boundary loss.
type Boundary struct {
	Common
	Distance DistanceSource
	SDF      SDF
	DistanceBackground
	DistanceTransform
}

// Declare binds the parameters.
func (p *Boundary) Declare(s *Set) {
	Enum(s, &p.Distance, "distance", DistanceFromTarget, []DistanceSource{DistanceFromTarget, DistanceFromInput},
		"where φ comes from: computed in the graph from the target, or the extra input distance_map (the target input is then unused)")
	sdf := Enum(s, &p.SDF, "sdf", SDFKervadec, []SDF{SDFKervadec, SDFSigned, SDFSegLoss},
		"signed distance convention: kervadec d_out / -(d_in - 1) (LIVIAETS/boundary-loss one_hot2dist), signed d_out / -d_in, segloss d_out / -d_in with the inner boundary layer 0")
	p.DistanceBackground.Declare(s, false, "the authors train on classes >= 1 (idc=[1] for two classes)")
	spacing, maxDistance := p.DistanceTransform.Declare(s)
	// A map given as the distance_map input is used as it is.
	fromTarget := func() bool { return p.Distance == DistanceFromTarget }
	for _, q := range []*Param{sdf, spacing, maxDistance} {
		q.Matters("--distance target (with --distance input φ is the distance_map input as given)", fromTarget)
	}
}

// HausdorffOptions holds the options of the distance-transform Hausdorff
// loss, shared by hausdorff-dt and log-hausdorff-dt.
type HausdorffOptions struct {
	// Alpha is the exponent α of the distances.
	Alpha float64
	DistanceBackground
	// Batch averages each class over the batch and space before the class
	// mean (MONAI's batch=True) instead of per image.
	Batch bool
	DistanceTransform
}

// Declare binds the options.
func (p *HausdorffOptions) Declare(s *Set) {
	s.Float(&p.Alpha, "alpha", 2, "exponent α of the distances (MONAI, kornia and the paper use 2)").AtLeast(0)
	p.DistanceBackground.Declare(s, false, "MONAI's HausdorffDTLoss default is false")
	s.Bool(&p.Batch, "batch", false, "average each class over the batch and space before the class mean (MONAI's batch=True) instead of per image")
	spacing, maxDistance := p.DistanceTransform.Declare(s)
	// The fields enter only as f^α, and f^0 = 1 for every distance.
	weighted := func() bool { return p.Alpha != 0 }
	for _, q := range []*Param{spacing, maxDistance} {
		q.Matters("--alpha above 0 (with α = 0 every distance weight f^α is 1)", weighted)
	}
}

// HausdorffDT is the parameter set of the hausdorff-dt loss.
type HausdorffDT struct {
	Common
	HausdorffOptions
}

// Declare binds the parameters.
func (p *HausdorffDT) Declare(s *Set) { p.HausdorffOptions.Declare(s) }

// LogHausdorffDT is the parameter set of the log-hausdorff-dt loss.
type LogHausdorffDT struct {
	Common
	HausdorffOptions
}

// Declare binds the parameters.
func (p *LogHausdorffDT) Declare(s *Set) { p.HausdorffOptions.Declare(s) }

// HausdorffER is the parameter set of the hausdorff-er loss.
type HausdorffER struct {
	Common
	// Alpha is the exponent α of the erosion weights j^α.
	Alpha float64
	// Erosions is the number of erosions.
	Erosions int
}

// Declare binds the parameters.
func (p *HausdorffER) Declare(s *Set) {
	s.Float(&p.Alpha, "alpha", 2, "exponent α of the erosion weights j^α (kornia and SegLoss use 2)").AtLeast(0).
		Matters("--erosions above 1 (the only erosion's weight is 1^α = 1)", func() bool { return p.Erosions > 1 })
	s.Int(&p.Erosions, "erosions", 10, "number of erosions (kornia's k, SegLoss's erosions; both default to 10)").AtLeast(1).AtMost(100)
}

// DistancePenalizedCE is the parameter set of the distance-penalized-ce
// loss.
type DistancePenalizedCE struct {
	Common
	DistanceTransform
}

// Declare binds the parameters. Φ is a ratio of distances within a region,
// so a spacing that scales every axis alike cancels unless distances are
// truncated.
func (p *DistancePenalizedCE) Declare(s *Set) {
	spacing, _ := p.DistanceTransform.Declare(s)
	spacing.Matters("values that differ between axes, or --max-distance (a uniform spacing scales every distance alike, and Φ is a ratio of distances)",
		func() bool { return !p.uniform() || p.MaxDistance > 0 })
}

// ShapeAware is the parameter set of the shape-aware loss.
type ShapeAware struct {
	Common
	DistanceBackground
	DistanceTransform
}

// Declare binds the parameters.
func (p *ShapeAware) Declare(s *Set) {
	p.DistanceBackground.Declare(s, false, "the background's contour duplicates the other classes'")
	p.DistanceTransform.Declare(s)
}

// ClassBalance says how unet-weight-map balances classes.
type ClassBalance string

// The class balances.
const (
	// ClassBalanceNone is w_c = 1 (or the class weights).
	ClassBalanceNone ClassBalance = "none"
	// ClassBalanceImage is S/(K·S_c) per image.
	ClassBalanceImage ClassBalance = "image"
	// ClassBalanceBatch is S/(K·S_c) over the batch.
	ClassBalanceBatch ClassBalance = "batch"
)

// UNetWeightMap is the parameter set of the unet-weight-map loss.
type UNetWeightMap struct {
	Common
	// W0 is the border weight w0.
	W0 float64
	// Sigma is the border width σ in spacing units.
	Sigma float64
	// MaxInstances is the number of instance ids the graph looks for.
	MaxInstances int
	ClassBalance ClassBalance
	// Truncate truncates distances at Truncate·σ (0: exact).
	Truncate float64
	// Spacing is the pixel size along each spatial axis; nil: 1.
	Spacing []float64
}

// Declare binds the parameters. Everything about the border term matters
// only when it has a weight.
func (p *UNetWeightMap) Declare(s *Set) {
	c := s.Common()
	s.Float(&p.W0, "w0", 10, "border weight w0 (the paper uses 10)").AtLeast(0)
	border := func() bool { return p.W0 != 0 }
	const needsBorder = "--w0 above 0 (with w0 = 0 there is no border term)"
	s.Float(&p.Sigma, "sigma", 5, "border width σ in spacing units (the paper uses about 5 pixels)").Above(0).Matters(needsBorder, border)
	s.Int(&p.MaxInstances, "max_instances", 16, "instances per image the graph looks for (ids 1..max_instances; larger ids count as objects without a border term); time and memory grow with it").AtLeast(2).AtMost(1024).
		Matters(needsBorder, border)
	Enum(s, &p.ClassBalance, "class_balance", ClassBalanceNone, []ClassBalance{ClassBalanceNone, ClassBalanceImage, ClassBalanceBatch},
		"w_c: 1, or S/(K·S_c) balanced per image or over the batch (binary mode: foreground and background); --class-weights sets w_c per class instead").
		Matters("no --class-weights (class weights set w_c themselves)", func() bool { return c.ClassWeights == nil })
	s.Float(&p.Truncate, "truncate", 8, "distances are truncated at truncate·σ, bounding the transform's time (0: exact)").AtLeast(0).Matters(needsBorder, border)
	declareSpacing(s, &p.Spacing).Matters(needsBorder, border)
}
