package train

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/tensor"
)

// Data layout: a folder of NAME.image.npy and NAME.label.npy pairs. An
// image is float32 in the model's input layout without the batch axis
// ([3,H,W] for a channels-first model, [H,W,3] for a channels-last one); a
// label is an integer class map [H,W] (int64, int32 or uint8). Every pair
// has the same sizes.
const (
	ImageSuffix = ".image.npy"
	LabelSuffix = ".label.npy"
)

// Sample is one image and its label map.
type Sample struct {
	Name  string
	Image *tensor.Tensor
	Label *tensor.Tensor // int64
}

// LoadDir reads every pair of a data folder, sorted by name.
func LoadDir(dir string) ([]Sample, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: reading the data folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ImageSuffix); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("train: %s holds no NAME%s files (each image needs a NAME%s label map next to it)", dir, ImageSuffix, LabelSuffix)
	}
	out := make([]Sample, 0, len(names))
	for _, n := range names {
		img, err := readNPY(filepath.Join(dir, n+ImageSuffix))
		if err != nil {
			return nil, err
		}
		lab, err := readNPY(filepath.Join(dir, n+LabelSuffix))
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("train: %s has no label map %s", n+ImageSuffix, n+LabelSuffix)
			}
			return nil, err
		}
		if img.DType != tensor.Float32 {
			img = img.Convert(tensor.Float32)
		}
		switch lab.DType {
		case tensor.Int64:
		case tensor.Int32, tensor.Uint8:
			lab = lab.Convert(tensor.Int64)
		default:
			return nil, fmt.Errorf("train: %s: labels must be int64, int32 or uint8 class indices, got %s", n+LabelSuffix, lab.DType)
		}
		if len(lab.Shape) != 2 {
			return nil, fmt.Errorf("train: %s: a label map is [H,W], got %v", n+LabelSuffix, lab.Shape)
		}
		if len(img.Shape) != 3 {
			return nil, fmt.Errorf("train: %s: an image is [C,H,W] or [H,W,C], got %v", n+ImageSuffix, img.Shape)
		}
		if len(out) > 0 && (!equalInts(img.Shape, out[0].Image.Shape) || !equalInts(lab.Shape, out[0].Label.Shape)) {
			return nil, fmt.Errorf("train: %s is %v with labels %v, but %s is %v with labels %v: every pair must have the same sizes",
				n, img.Shape, lab.Shape, out[0].Name, out[0].Image.Shape, out[0].Label.Shape)
		}
		out = append(out, Sample{Name: n, Image: img, Label: lab})
	}
	return out, nil
}

func readNPY(path string) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := tensor.ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return t, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stack joins samples into a batch: images [B, ...], labels [B, H, W].
func stack(s []Sample) (img, lab *tensor.Tensor) {
	is, ls := s[0].Image.Shape, s[0].Label.Shape
	idata := make([]float32, 0, len(s)*tensor.NumElements(is))
	ldata := make([]int64, 0, len(s)*tensor.NumElements(ls))
	for _, x := range s {
		idata = append(idata, x.Image.Data.([]float32)...)
		ldata = append(ldata, x.Label.Data.([]int64)...)
	}
	return tensor.FromFloat32(append([]int{len(s)}, is...), idata), tensor.FromInt64(append([]int{len(s)}, ls...), ldata)
}

func writeNPY(path string, t *tensor.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tensor.WriteNPY(f, t); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
