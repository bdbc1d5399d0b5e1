// Random streams live in their own leaf module (Tensor and Clustering need them, not the samplers);
// code that imports Sampling keeps seeing them.
@_exported import RandomStreams
