package training_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestParameterInputs runs a training graph the ways runtime.Session allows:
// without its parameters (the stored weights), with all of them (the same
// result for the stored values), with only some (refused), and with
// runtime.Options.InitializerInputs, where they are required.
func TestParameterInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	m := &tiny{r: r}
	out := m.conv(m.op("Tanh", nil, m.conv("x", 3, 4, 3, nil)), 4, 3, 1, nil)
	tm, rep, err := training.Build(m.model(17, out), training.Options{Append: splice.Options{Loss: "dice"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := modelio.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"x": randTensor(r, []int{1, 3, 5, 5}, 1), "target": tensor.New(tensor.Int64, 1, 5, 5)}
	state, ok := training.InitialState(tm)
	if !ok || len(state) != len(rep.Params) {
		t.Fatalf("InitialState: %d values, ok %v; want the %d parameters", len(state), ok, len(rep.Params))
	}
	s := openModel(t, tm)
	optional := 0
	for _, in := range s.Inputs() {
		if in.Optional {
			optional++
		}
	}
	if optional != len(rep.Params) {
		t.Errorf("%d optional inputs, want %d", optional, len(rep.Params))
	}
	plain, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	with := map[string]*tensor.Tensor{}
	for k, v := range feeds {
		with[k] = v
	}
	for k, v := range state {
		with[k] = v
	}
	fed, err := s.Run(with)
	if err != nil {
		t.Fatal(err)
	}
	if plain["loss"].Float64s()[0] != fed["loss"].Float64s()[0] {
		t.Errorf("loss %v with the stored weights fed, %v without", fed["loss"], plain["loss"])
	}
	some := map[string]*tensor.Tensor{rep.Params[0]: state[rep.Params[0]]}
	for k, v := range feeds {
		some[k] = v
	}
	if _, err := s.Run(some); err == nil || !strings.Contains(err.Error(), "all together or not at all") {
		t.Errorf("some parameters: %v", err)
	}
	one, err := runtime.NewSession(b, runtime.Options{InitializerInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := one.Run(feeds); err == nil || !strings.Contains(err.Error(), "missing input") {
		t.Errorf("InitializerInputs without the parameters: %v", err)
	}
	res, err := one.Run(with)
	if err != nil {
		t.Fatal(err)
	}
	if res["loss"].Float64s()[0] != plain["loss"].Float64s()[0] {
		t.Errorf("InitializerInputs: loss %v, want %v", res["loss"], plain["loss"])
	}
}
