module github.com/onnxloss/onnxloss

go 1.24

require (
	github.com/yalue/onnxruntime_go v1.27.0
	google.golang.org/protobuf v1.36.12
)
