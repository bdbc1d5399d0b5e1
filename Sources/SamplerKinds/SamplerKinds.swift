import Jobs

/// The sampler job kinds, for registration with the service.
public func samplerKinds(readDataset: MCMCKind.DatasetReader? = nil) -> [any JobKind] {
    [InverseCDFKind(), RejectionKind(), ImportanceKind(), GibbsKind(), MCMCKind(readDataset: readDataset)]
}
