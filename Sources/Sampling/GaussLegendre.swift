/// 10-point Gauss–Legendre quadrature: exact for polynomials of degree 19, the workhorse for
/// smooth integrands on short panels.
public enum GaussLegendre {
    static let nodes: [Double] = [
        -0.9739065285171717, -0.8650633666889845, -0.6794095682990244, -0.4333953941292472, -0.1488743389816312,
        0.1488743389816312, 0.4333953941292472, 0.6794095682990244, 0.8650633666889845, 0.9739065285171717,
    ]
    static let weights: [Double] = [
        0.0666713443086881, 0.1494513491505806, 0.2190863625159820, 0.2692667193099963, 0.2955242247147529,
        0.2955242247147529, 0.2692667193099963, 0.2190863625159820, 0.1494513491505806, 0.0666713443086881,
    ]

    public static func integrate(over a: Double, _ b: Double, _ f: (Double) -> Double) -> Double {
        let half = (b - a) / 2
        let middle = (a + b) / 2
        var total = 0.0
        for index in 0..<10 { total += weights[index] * f(middle + half * nodes[index]) }
        return total * half
    }
}
