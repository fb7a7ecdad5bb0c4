package builder

// SingleReduce emits op (ReduceSum, ReduceMean) over axes as one node, as
// ReduceSum and ReduceMean did before they were blocked: the baseline of
// the accuracy tests and benchmarks.
func SingleReduce(op string, x *Value, keepDims bool, axes ...int) *Value {
	return reduce(op, x, keepDims, axes)
}

// SumBlock is sumBlock, for the tests.
const SumBlock = sumBlock
