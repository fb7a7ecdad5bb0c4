// Package signaturepb decodes the inputs and outputs of a serialized ONNX
// model, and nothing else: signature.proto is the subset of onnx.proto that
// holds them, with ONNX's field numbers, and signature.pb.go is what
// protoc-gen-go generates from it.
package signaturepb

// Regenerating needs protoc and protoc-gen-go (the version in go.mod's
// google.golang.org/protobuf), found as for onnxpb.
//go:generate sh -c "protoc --plugin=protoc-gen-go=\"$(command -v protoc-gen-go || echo \"$(go env GOPATH | cut -d: -f1)/bin/protoc-gen-go\")\" --go_out=. --go_opt=paths=source_relative signature.proto"
