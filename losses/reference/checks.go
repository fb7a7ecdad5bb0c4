package reference

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// checkInputs refuses what the exported graphs refuse, with the name of the
// graph's check in the message, so that a reference never returns a number
// (or panics) where the graph fails: shapes that disagree with the input's,
// an empty input, labels outside [0, C) that are not the ignore index, and a
// float target holding NaN or ±Inf.
func checkInputs(in Inputs, c *Config) error {
	x, t := in["input"], in["target"]
	if err := x.Validate(); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if c.SpatialDims > 0 && len(x.Shape) != 2+c.SpatialDims {
		return fmt.Errorf("input of rank %d, want %d ([N,C] and %d spatial dimensions)", len(x.Shape), 2+c.SpatialDims, c.SpatialDims)
	}
	if len(x.Shape) < 2 {
		return fmt.Errorf("input of rank %d", len(x.Shape))
	}
	chAxis := 1
	if c.Layout == param.NHWC {
		chAxis = len(x.Shape) - 1
	}
	C := x.Shape[chAxis]
	pixels := []int{x.Shape[0]}
	for i, d := range x.Shape[1:] {
		if i+1 != chAxis {
			pixels = append(pixels, d)
		}
	}
	if c.Classes > 0 && C != c.Classes {
		return fmt.Errorf("input_classes_match_option: the input has %d channels, the loss was built for %d", C, c.Classes)
	}
	if c.Mode == param.Multiclass && C == 1 {
		return fmt.Errorf("input_classes_at_least_two: the input has 1 channel; multiclass mode needs at least 2 classes")
	}
	labels := c.Mode == param.Multiclass && c.TargetForm == param.TargetLabels
	if err := matches("target", t.Shape, x.Shape, pixels, chAxis, !labels); err != nil {
		return err
	}
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "input" || name == "target" || name == DetachedInput {
			continue
		}
		e := in[name]
		if err := e.Validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// An extra input is a map [N,*spatial] or has the input's shape.
		channels := len(e.Shape) == len(x.Shape)
		if err := matches(name, e.Shape, x.Shape, pixels, chAxis, channels); err != nil {
			return err
		}
	}
	if tensor.NumElements(x.Shape) == 0 {
		return fmt.Errorf("input_not_empty: the input %v has a dimension of size 0", x.Shape)
	}
	if labels {
		for i, y := range t.Int64s() {
			if (y < 0 || y >= int64(C)) && (c.IgnoreIndex == nil || y != *c.IgnoreIndex) {
				return fmt.Errorf("target_labels_in_range: label %d at entry %d is outside [0, %d) and not the ignore index", y, i, C)
			}
		}
		return nil
	}
	for i, v := range t.Float64s() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("target_finite: target entry %d is %v", i, v)
		}
	}
	return nil
}

// matches checks the shape of a tensor against the input's: like the input
// (channels true) or like a label map [N,*spatial] (pixels).
func matches(name string, got, input, pixels []int, chAxis int, channels bool) error {
	want := pixels
	if channels {
		want = input
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s has shape %v, want rank %d (input %v)", name, got, len(want), input)
	}
	if got[0] != want[0] {
		return fmt.Errorf("%s_batch_matches_input: %s has batch %d, the input %d", name, name, got[0], want[0])
	}
	for i := 1; i < len(got); i++ {
		if channels && i == chAxis {
			continue
		}
		if got[i] != want[i] {
			return fmt.Errorf("%s_spatial_matches_input: %s has shape %v, the input %v", name, name, got, input)
		}
	}
	if channels && got[chAxis] != want[chAxis] {
		return fmt.Errorf("%s_classes_match_input: %s has %d channels, the input %d", name, name, got[chAxis], want[chAxis])
	}
	return nil
}
