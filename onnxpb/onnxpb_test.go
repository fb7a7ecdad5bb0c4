package onnxpb_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/onnxloss/onnxloss/onnxpb"
)

// modelFiles returns the .onnx fixtures written by testdata/make_models.py.
func modelFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.onnx files; run testdata/make_models.py")
	}
	return files
}

// unknownFields lists, as paths, every message under m that holds bytes the
// schema did not recognise. Any entry means onnx.proto lacks a field that
// the writer used.
func unknownFields(m protoreflect.Message, path string) []string {
	var out []string
	if u := m.GetUnknown(); len(u) > 0 {
		out = append(out, fmt.Sprintf("%s (%s): %d unknown bytes", path, m.Descriptor().FullName(), len(u)))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		p := path + "." + string(fd.Name())
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				out = append(out, unknownFields(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))...)
			}
			return true
		}
		out = append(out, unknownFields(v.Message(), p)...)
		return true
	})
	return out
}

func TestRoundTripPyTorchModels(t *testing.T) {
	for _, file := range modelFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			orig, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(orig, &m); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if unk := unknownFields(m.ProtoReflect(), "model"); len(unk) > 0 {
				t.Errorf("fields not covered by onnx.proto:\n%s", strings.Join(unk, "\n"))
			}
			again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&m)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var m2 onnxpb.ModelProto
			if err := proto.Unmarshal(again, &m2); err != nil {
				t.Fatalf("unmarshal re-encoded model: %v", err)
			}
			if !proto.Equal(&m, &m2) {
				t.Error("re-encoded model decodes to a different message")
			}
			// The bytes must match too, which catches what proto.Equal
			// cannot: a [packed] option or an integer type that differs
			// from upstream's. They are compared up to the order of the
			// fields inside each message, because the writers disagree on
			// that order: C++ protobuf (PyTorch, onnx) writes fields in
			// field-number order, while protobuf-go writes oneof members
			// after all other fields, so a TensorShapeProto.Dimension with
			// a denotation comes out in a different order.
			want, err := canonical(orig, m.ProtoReflect().Descriptor())
			if err != nil {
				t.Fatalf("parse %s: %v", file, err)
			}
			got, err := canonical(again, m.ProtoReflect().Descriptor())
			if err != nil {
				t.Fatalf("parse re-encoded model: %v", err)
			}
			if !bytes.Equal(want, got) {
				i := 0
				for i < len(want) && i < len(got) && want[i] == got[i] {
					i++
				}
				t.Errorf("re-encoded bytes differ from the file at canonical offset %d (lengths %d and %d)", i, len(want), len(got))
			}
		})
	}
}

// canonical re-encodes the wire bytes b of a message of type md with the
// fields of every message, nested ones included, stably sorted by field
// number. Two encodings that differ only in field order have the same
// canonical form; anything else (packing, varint widths, values) differs.
func canonical(b []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	type field struct {
		num protowire.Number
		raw []byte
	}
	var fields []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		raw := b[:n+m]
		if fd := md.Fields().ByNumber(num); fd != nil && fd.Message() != nil && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			sub, err := canonical(v, fd.Message())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fd.Name(), err)
			}
			raw = protowire.AppendBytes(protowire.AppendTag(nil, num, typ), sub)
		}
		fields = append(fields, field{num, raw})
		b = b[n+m:]
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].num < fields[j].num })
	var out []byte
	for _, f := range fields {
		out = append(out, f.raw...)
	}
	return out, nil
}

// TestModelContents checks that the parts make_models.py put into the
// fixtures arrive in the typed fields, not just somewhere in the message.
func TestModelContents(t *testing.T) {
	load := func(name string) *onnxpb.ModelProto {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		m := new(onnxpb.ModelProto)
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	countOps := func(g *onnxpb.GraphProto) map[string]int {
		n := map[string]int{}
		for _, node := range g.GetNode() {
			n[node.GetOpType()]++
		}
		return n
	}

	t.Run("opset13", func(t *testing.T) {
		m := load("tinynet_opset13.onnx")
		if got := m.GetOpsetImport()[0].GetVersion(); got != 13 {
			t.Errorf("opset = %d, want 13", got)
		}
		if !strings.HasPrefix(m.GetProducerName(), "pytorch") {
			t.Errorf("producer_name = %q, want pytorch", m.GetProducerName())
		}
		ops := countOps(m.GetGraph())
		if ops["Conv"] != 3 || ops["BatchNormalization"] != 2 || ops["Relu"] != 2 {
			t.Errorf("ops = %v, want 3 Conv, 2 BatchNormalization, 2 Relu", ops)
		}
		docs := 0
		for _, n := range m.GetGraph().GetNode() {
			if n.GetDocString() != "" {
				docs++
			}
		}
		if docs == 0 {
			t.Error("no node doc strings; the export used verbose=True to keep them")
		}
		in := m.GetGraph().GetInput()[0]
		var dims []string
		for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			if d.GetDimParam() != "" {
				dims = append(dims, d.GetDimParam())
			} else {
				dims = append(dims, fmt.Sprint(d.GetDimValue()))
			}
		}
		if got := strings.Join(dims, ","); got != "N,3,H,W" {
			t.Errorf("input dims = %s, want N,3,H,W", got)
		}
		if et := in.GetType().GetTensorType().GetElemType(); et != int32(onnxpb.TensorProto_FLOAT) {
			t.Errorf("input elem_type = %d, want FLOAT", et)
		}
	})

	t.Run("functions", func(t *testing.T) {
		m := load("tinynet_functions_opset17.onnx")
		if len(m.GetFunctions()) != 1 {
			t.Fatalf("got %d functions, want 1", len(m.GetFunctions()))
		}
		f := m.GetFunctions()[0]
		if f.GetName() != "ConvBlock" || countOps(&onnxpb.GraphProto{Node: f.GetNode()})["BatchNormalization"] != 1 {
			t.Errorf("function %q with ops %v, want ConvBlock with a BatchNormalization", f.GetName(), countOps(&onnxpb.GraphProto{Node: f.GetNode()}))
		}
		if countOps(m.GetGraph())["ConvBlock"] != 2 {
			t.Errorf("main graph ops = %v, want two ConvBlock calls", countOps(m.GetGraph()))
		}
	})

	t.Run("extras", func(t *testing.T) {
		m := load("tinynet_extras.onnx")
		props := map[string]string{}
		for _, p := range m.GetMetadataProps() {
			props[p.GetKey()] = p.GetValue()
		}
		if props["onnxloss.fixture"] != "extras" {
			t.Errorf("metadata_props = %v", props)
		}
		g := m.GetGraph()
		if len(g.GetSparseInitializer()) != 1 || len(g.GetSparseInitializer()[0].GetValues().GetFloatData()) != 3 {
			t.Errorf("sparse_initializer = %v", g.GetSparseInitializer())
		}
		if len(m.GetTrainingInfo()) != 1 || len(m.GetTrainingInfo()[0].GetUpdateBinding()) != 1 ||
			m.GetTrainingInfo()[0].GetAlgorithm().GetNode()[0].GetOpType() != "Mul" {
			t.Errorf("training_info = %v", m.GetTrainingInfo())
		}
		if len(g.GetValueInfo()) == 0 || len(g.GetQuantizationAnnotation()) != 1 {
			t.Errorf("value_info: %d entries, quantization_annotation: %d", len(g.GetValueInfo()), len(g.GetQuantizationAnnotation()))
		}
		if d := g.GetOutput()[0].GetType().GetTensorType().GetShape().GetDim()[1].GetDenotation(); d != "DATA_CHANNEL" {
			t.Errorf("denotation = %q", d)
		}
	})
}

// TestSchemaMatchesUpstream12 compares onnx.proto with the schema of the
// onnx 1.12 Python package (its FileDescriptorProto, saved by
// make_models.py): every message, field and enum value there must exist
// here with the same number, type, cardinality and packing.
func TestSchemaMatchesUpstream12(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "onnx-ml-1.12.descriptor.pb"))
	if err != nil {
		t.Fatal(err)
	}
	up := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(b, up); err != nil {
		t.Fatal(err)
	}
	ours := protodesc.ToFileDescriptorProto(onnxpb.File_onnx_proto)
	if up.GetPackage() != ours.GetPackage() || up.GetSyntax() != ours.GetSyntax() {
		t.Fatalf("package/syntax %s/%s, upstream %s/%s", ours.GetPackage(), ours.GetSyntax(), up.GetPackage(), up.GetSyntax())
	}
	compareEnums(t, "", up.GetEnumType(), ours.GetEnumType())
	compareMessages(t, "", up.GetMessageType(), ours.GetMessageType())
}

func compareMessages(t *testing.T, prefix string, up, ours []*descriptorpb.DescriptorProto) {
	t.Helper()
	byName := map[string]*descriptorpb.DescriptorProto{}
	for _, m := range ours {
		byName[m.GetName()] = m
	}
	for _, um := range up {
		name := prefix + um.GetName()
		om := byName[um.GetName()]
		if om == nil {
			t.Errorf("message %s missing", name)
			continue
		}
		fields := map[string]*descriptorpb.FieldDescriptorProto{}
		for _, f := range om.GetField() {
			fields[f.GetName()] = f
		}
		for _, uf := range um.GetField() {
			of := fields[uf.GetName()]
			if of == nil {
				t.Errorf("field %s.%s missing", name, uf.GetName())
				continue
			}
			type sig struct {
				Number int32
				Label  descriptorpb.FieldDescriptorProto_Label
				Type   descriptorpb.FieldDescriptorProto_Type
				Packed bool
				TypeOf string
				Oneof  string
			}
			s := func(m *descriptorpb.DescriptorProto, f *descriptorpb.FieldDescriptorProto) sig {
				o := ""
				if f.OneofIndex != nil {
					o = m.GetOneofDecl()[f.GetOneofIndex()].GetName()
				}
				return sig{f.GetNumber(), f.GetLabel(), f.GetType(), f.GetOptions().GetPacked(), f.GetTypeName(), o}
			}
			if want, got := s(um, uf), s(om, of); want != got {
				t.Errorf("field %s.%s = %+v, upstream %+v", name, uf.GetName(), got, want)
			}
		}
		compareEnums(t, name+".", um.GetEnumType(), om.GetEnumType())
		compareMessages(t, name+".", um.GetNestedType(), om.GetNestedType())
	}
}

func compareEnums(t *testing.T, prefix string, up, ours []*descriptorpb.EnumDescriptorProto) {
	t.Helper()
	byName := map[string]*descriptorpb.EnumDescriptorProto{}
	for _, e := range ours {
		byName[e.GetName()] = e
	}
	for _, ue := range up {
		name := prefix + ue.GetName()
		oe := byName[ue.GetName()]
		if oe == nil {
			t.Errorf("enum %s missing", name)
			continue
		}
		values := map[string]int32{}
		for _, v := range oe.GetValue() {
			values[v.GetName()] = v.GetNumber()
		}
		for _, uv := range ue.GetValue() {
			n, ok := values[uv.GetName()]
			switch {
			case !ok:
				t.Errorf("enum value %s.%s missing", name, uv.GetName())
			case name == "Version" && uv.GetName() == "IR_VERSION":
				// IR_VERSION always names the newest version, so it
				// moves on with every release.
				if n < uv.GetNumber() {
					t.Errorf("Version.IR_VERSION = %d, older than upstream 1.12's %d", n, uv.GetNumber())
				}
			case n != uv.GetNumber():
				t.Errorf("enum value %s.%s = %d, upstream %d", name, uv.GetName(), n, uv.GetNumber())
			}
		}
	}
}

// TestSchemaNewerFields covers what onnx 1.12's descriptor cannot: the
// fields and values added in IR 9 to 13. The table is transcribed from
// upstream's onnx.proto (ONNX 1.20) separately from onnx.proto here.
func TestSchemaNewerFields(t *testing.T) {
	fields := []struct {
		msg, field string
		num        protoreflect.FieldNumber
		kind       protoreflect.Kind
		list       bool
	}{
		{"ValueInfoProto", "metadata_props", 4, protoreflect.MessageKind, true},
		{"NodeProto", "overload", 8, protoreflect.StringKind, false},
		{"NodeProto", "metadata_props", 9, protoreflect.MessageKind, true},
		{"NodeProto", "device_configurations", 10, protoreflect.MessageKind, true},
		{"IntIntListEntryProto", "key", 1, protoreflect.Int64Kind, false},
		{"IntIntListEntryProto", "value", 2, protoreflect.Int64Kind, true},
		{"NodeDeviceConfigurationProto", "configuration_id", 1, protoreflect.StringKind, false},
		{"NodeDeviceConfigurationProto", "sharding_spec", 2, protoreflect.MessageKind, true},
		{"NodeDeviceConfigurationProto", "pipeline_stage", 3, protoreflect.Int32Kind, false},
		{"ShardingSpecProto", "tensor_name", 1, protoreflect.StringKind, false},
		{"ShardingSpecProto", "device", 2, protoreflect.Int64Kind, true},
		{"ShardingSpecProto", "index_to_device_group_map", 3, protoreflect.MessageKind, true},
		{"ShardingSpecProto", "sharded_dim", 4, protoreflect.MessageKind, true},
		{"ShardedDimProto", "axis", 1, protoreflect.Int64Kind, false},
		{"ShardedDimProto", "simple_sharding", 2, protoreflect.MessageKind, true},
		{"SimpleShardedDimProto", "dim_value", 1, protoreflect.Int64Kind, false},
		{"SimpleShardedDimProto", "dim_param", 2, protoreflect.StringKind, false},
		{"SimpleShardedDimProto", "num_shards", 3, protoreflect.Int64Kind, false},
		{"ModelProto", "configuration", 26, protoreflect.MessageKind, true},
		{"DeviceConfigurationProto", "name", 1, protoreflect.StringKind, false},
		{"DeviceConfigurationProto", "num_devices", 2, protoreflect.Int32Kind, false},
		{"DeviceConfigurationProto", "device", 3, protoreflect.StringKind, true},
		{"GraphProto", "metadata_props", 16, protoreflect.MessageKind, true},
		{"TensorProto", "metadata_props", 16, protoreflect.MessageKind, true},
		{"FunctionProto", "attribute_proto", 11, protoreflect.MessageKind, true},
		{"FunctionProto", "value_info", 12, protoreflect.MessageKind, true},
		{"FunctionProto", "overload", 13, protoreflect.StringKind, false},
		{"FunctionProto", "metadata_props", 14, protoreflect.MessageKind, true},
	}
	msgs := onnxpb.File_onnx_proto.Messages()
	for _, f := range fields {
		md := msgs.ByName(protoreflect.Name(f.msg))
		if md == nil {
			t.Errorf("message %s missing", f.msg)
			continue
		}
		fd := md.Fields().ByName(protoreflect.Name(f.field))
		if fd == nil {
			t.Errorf("field %s.%s missing", f.msg, f.field)
			continue
		}
		if fd.Number() != f.num || fd.Kind() != f.kind || fd.IsList() != f.list {
			t.Errorf("field %s.%s: number %d kind %v list %v, want %d %v %v",
				f.msg, f.field, fd.Number(), fd.Kind(), fd.IsList(), f.num, f.kind, f.list)
		}
	}

	values := []struct {
		enum protoreflect.EnumDescriptor
		name string
		num  protoreflect.EnumNumber
	}{
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT8E4M3FN", 17},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT8E4M3FNUZ", 18},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT8E5M2", 19},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT8E5M2FNUZ", 20},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "UINT4", 21},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "INT4", 22},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT4E2M1", 23},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "FLOAT8E8M0", 24},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "UINT2", 25},
		{onnxpb.TensorProto_DataType(0).Descriptor(), "INT2", 26},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION_2021_7_30", 8},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION_2023_5_5", 9},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION_2024_3_25", 10},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION_2025_05_12", 11},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION_2025_08_26", 12},
		{onnxpb.Version(0).Descriptor(), "IR_VERSION", 13},
		{onnxpb.AttributeProto_AttributeType(0).Descriptor(), "TYPE_PROTO", 13},
		{onnxpb.AttributeProto_AttributeType(0).Descriptor(), "TYPE_PROTOS", 14},
	}
	for _, v := range values {
		ev := v.enum.Values().ByName(protoreflect.Name(v.name))
		if ev == nil {
			t.Errorf("enum value %s.%s missing", v.enum.Name(), v.name)
		} else if ev.Number() != v.num {
			t.Errorf("enum value %s.%s = %d, want %d", v.enum.Name(), v.name, ev.Number(), v.num)
		}
	}
}

// TestEveryFieldRoundTrips sets every field of every message reachable from
// ModelProto, including those PyTorch never writes, and checks that encoding
// and decoding keeps them all.
func TestEveryFieldRoundTrips(t *testing.T) {
	m := new(onnxpb.ModelProto)
	fill(m.ProtoReflect(), 0)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got := new(onnxpb.ModelProto)
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, got) {
		t.Error("a fully populated model does not survive a round trip")
	}
	if unk := unknownFields(got.ProtoReflect(), "model"); len(unk) > 0 {
		t.Errorf("unknown fields after round trip: %v", unk)
	}
}

// fill sets every field of m to a value derived from its number, recursing
// into messages up to a small depth so that recursive types (GraphProto in
// AttributeProto in NodeProto in GraphProto) stay finite.
func fill(m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if fd.ContainingOneof() != nil && fd.ContainingOneof().Fields().Get(0) != fd {
			continue // only one member of a oneof can be set
		}
		if fd.Message() != nil && depth >= 3 {
			continue
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(fd, j))
				}
			}
			continue
		}
		if fd.Message() != nil {
			fill(m.Mutable(fd).Message(), depth+1)
			continue
		}
		m.Set(fd, scalar(fd, 1))
	}
}

func scalar(fd protoreflect.FieldDescriptor, j int) protoreflect.Value {
	n := int64(fd.Number())*10 + int64(j)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), j))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("%s-%d", fd.Name(), j)))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.25)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(-n))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(-n << 33)
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(uint64(n) << 40)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	}
	panic(fmt.Sprintf("fill: unhandled kind %v of %s", fd.Kind(), fd.FullName()))
}

// FuzzUnmarshalModel checks that no input makes the decoder panic, and that
// whatever decodes also re-encodes and decodes to the same message.
func FuzzUnmarshalModel(f *testing.F) {
	for _, file := range modelFiles(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(b, &m); err != nil {
			return
		}
		again, err := proto.Marshal(&m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		var m2 onnxpb.ModelProto
		if err := proto.Unmarshal(again, &m2); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !proto.Equal(&m, &m2) {
			t.Fatal("re-encoded message decodes differently")
		}
	})
}
