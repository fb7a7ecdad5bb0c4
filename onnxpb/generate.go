// Package onnxpb holds the ONNX protobuf schema (onnx.proto, written from the
// ONNX IR specification) and the Go types that protoc-gen-go generates from
// it. The messages keep the names and field numbers of upstream ONNX, so a
// ModelProto decoded here reads and writes the same bytes as any other ONNX
// tool.
//
// The package holds generated code only. Building and checking models is the
// job of the builder and export packages.
package onnxpb

// Regenerating needs protoc and protoc-gen-go. The plugin is taken from PATH
// or, failing that, from the first GOPATH's bin, because `go install` puts it
// there and many shells do not have that folder on PATH.
//go:generate sh -c "protoc --plugin=protoc-gen-go=\"$(command -v protoc-gen-go || echo \"$(go env GOPATH | cut -d: -f1)/bin/protoc-gen-go\")\" --go_out=. --go_opt=paths=source_relative onnx.proto"
