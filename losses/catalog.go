package losses

// catalog lists every loss. Listings sort it by family and name (All), so
// its order is free; a new loss is added here.
var catalog = []*Spec{
	// cross-entropy
	bce, weightedBCE, balancedBCE, crossEntropy, focal, topKCE, ohemCE, weightedCE,
	// region
	dice, jaccard, tversky, focalTversky, logCoshDice, asymmetricSimilarity, generalizedDice,
	generalizedWassersteinDice, sensitivitySpecificity, mcc, combo, expLog, diceCE, diceFocal,
	// structure
	ssim, msSSIM, cmssim, lovaszHinge, lovaszSoftmax, boundaryF1, clDice, diceClDice, unet3pHybrid, basnetHybrid, duo,
	// distance
	boundary, hausdorffDT, logHausdorffDT, hausdorffER, distancePenalizedCE, shapeAware, unetWeightMap,
}

func init() {
	for _, s := range catalog {
		register(s)
	}
}
