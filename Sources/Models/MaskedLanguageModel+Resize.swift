import TensorCore

/// Where a layer of a resized model takes its weights from.
public enum LayerSource: Equatable, Sendable, Codable {
    /// A copy of this layer of the current model.
    case copy(of: Int)
    /// Freshly initialised.
    case fresh
}

extension LayerSource {
    /// The parameters of a model resized by `plan` whose optimizer state must start afresh: those
    /// of every layer that is not a copy of itself (new, fresh or moved layers). Optimizer state is
    /// matched by name, so a moved layer would otherwise inherit the moments of the layer that had
    /// its index. The host's AdamW and plugins' state tensors both use this one rule.
    public static func parametersStartingAfresh(after plan: [LayerSource], in store: ParameterStore) -> Set<String> {
        Set(store.entries.compactMap { e in e.layer.flatMap { plan[$0] == .copy(of: $0) ? nil : e.name } })
    }
}

extension MaskedLanguageModel {
    /// Rebuilds the model with one layer per entry of `plan` (layer stacking's growth step).
    /// Embeddings, final norm and head carry over; gradients start at zero. Buffers are laid out
    /// anew, which is the only allocation outside model construction.
    public func resize(to plan: [LayerSource], seed: UInt64) throws {
        var newConfig = config
        newConfig.layers = plan.count
        try newConfig.validate()
        for case .copy(let source) in plan where !(0..<config.layers).contains(source) {
            throw ModelConfigError.invalid(preset: config.name, "resize plan copies layer \(source), but the model has \(config.layers)")
        }
        let old = parameters
        let store = ParameterStore(Self.parameterSpecs(newConfig))
        for e in store.entries {
            guard let layer = e.layer else {
                store.value(e.name).base.update(from: old.value(e.name).base, count: e.count)
                continue
            }
            switch plan[layer] {
            case .copy(let source):
                let sourceName = Self.layerPrefix(source) + e.name.dropFirst(Self.layerPrefix(layer).count)
                store.value(e.name).base.update(from: old.value(sourceName).base, count: e.count)
            case .fresh:
                Self.initialise(e, in: store, config: newConfig, seed: seed)
            }
        }
        replace(config: newConfig, parameters: store)
    }
}
