import Jobs

/// The sampler job kinds, for registration with the service.
public let samplerKinds: [any JobKind] = [InverseCDFKind(), RejectionKind(), ImportanceKind(), GibbsKind(), MCMCKind()]
