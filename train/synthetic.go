package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/onnxloss/onnxloss/tensor"
)

// Shapes draws n synthetic segmentation samples of size×size pixels, for
// examples and tests: on a noisy background of random hue, up to three
// discs (class 1) and squares (class 2), each of a random colour that is
// reddish for discs and greenish for squares, so that colour and shape
// both tell the classes apart. Images are [3,size,size] float32 in about
// [-1, 1]; labels [size,size] int64. The same seed draws the same samples.
func Shapes(n, size int, seed uint64) []Sample {
	r := rand.New(rand.NewPCG(seed, 0x5a))
	out := make([]Sample, n)
	plane := size * size
	for k := range out {
		img := make([]float32, 3*plane)
		lab := make([]int64, plane)
		bg := [3]float64{r.Float64()*0.6 - 0.3, r.Float64()*0.6 - 0.3, r.Float64()*0.6 - 0.3}
		for i := 0; i < plane; i++ {
			for c := 0; c < 3; c++ {
				img[c*plane+i] = float32(bg[c] + 0.25*r.NormFloat64())
			}
		}
		for s := 0; s < 1+r.IntN(3); s++ {
			class := int64(1 + r.IntN(2))
			rad := float64(size) * (0.08 + 0.12*r.Float64())
			cx, cy := r.Float64()*float64(size), r.Float64()*float64(size)
			col := [3]float64{0.2 + 0.6*r.Float64(), -0.4 * r.Float64(), 0.4*r.Float64() - 0.2}
			if class == 2 {
				col[0], col[1] = col[1], col[0]
			}
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
					inside := dx*dx+dy*dy <= rad*rad
					if class == 2 {
						inside = dx >= -rad && dx <= rad && dy >= -rad && dy <= rad
					}
					if !inside {
						continue
					}
					i := y*size + x
					lab[i] = class
					for c := 0; c < 3; c++ {
						img[c*plane+i] = float32(col[c] + 0.25*r.NormFloat64())
					}
				}
			}
		}
		out[k] = Sample{Name: fmt.Sprintf("shapes%04d", k), Image: tensor.FromFloat32([]int{3, size, size}, img),
			Label: tensor.FromInt64([]int{size, size}, lab)}
	}
	return out
}

// WriteDir writes samples as NAME.image.npy and NAME.label.npy files into
// dir, which must exist.
func WriteDir(dir string, samples []Sample) error {
	for _, s := range samples {
		if err := writeNPY(dir+"/"+s.Name+ImageSuffix, s.Image); err != nil {
			return err
		}
		if err := writeNPY(dir+"/"+s.Name+LabelSuffix, s.Label); err != nil {
			return err
		}
	}
	return nil
}
