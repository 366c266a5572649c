"""streamgmm: Gaussian mixture clustering for data larger than memory and for streams."""
