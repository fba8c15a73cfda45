import Foundation
import Host
import Clock
import Records
import Corpus

/// A stored run's summary, as text or as the JSON object `ntng run --json` prints.
struct RunReport: Encodable {
    let runID: String
    let method: String
    let model: String
    let corpus: String
    let seed: Int
    let status: String
    let budget: String
    let budgetRSTSeconds: Double?
    let rstSeconds: Double
    let wallSeconds: Double
    let steps: Int
    let tokens: Int
    let finalTrainLoss: Double?
    let valLoss: Double?
    let error: String?
    /// Reference lines stored with the run (nil for runs from before they were stored).
    let referenceUnigram: Double?
    let referenceUniform: Double?
    /// `runs show --json` only (nil, so left out, for `run --json`): every evaluation but the
    /// reference lines, and every point of the training curve, so that curves can be analysed
    /// without parsing the text.
    var evaluations: [EvaluationPoint]?
    var curve: [CurvePoint]?

    /// An evaluation: `val_loss` after `step`, at `rst_s`.
    struct EvaluationPoint: Encodable {
        let name: String
        let value: Double
        let step: Int
        let rstSeconds: Double
        enum CodingKeys: String, CodingKey { case name, value, step, rstSeconds = "rst_s" }
    }

    /// One optimizer step: `train_loss` is left out where it was not finite (stored as NULL).
    struct CurvePoint: Encodable {
        let step: Int
        let rstSeconds: Double
        let wallSeconds: Double
        let tokens: Int
        let trainLoss: Double?
        let learningRate: Double
        enum CodingKeys: String, CodingKey {
            case step, rstSeconds = "rst_s", wallSeconds = "wall_s", tokens, trainLoss = "train_loss", learningRate = "lr"
        }
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", method, model, corpus, seed, status, budget
        case budgetRSTSeconds = "budget_rst_s", rstSeconds = "rst_s", wallSeconds = "wall_s", steps, tokens
        case finalTrainLoss = "final_train_loss", valLoss = "val_loss", error
        case referenceUnigram = "reference_unigram", referenceUniform = "reference_uniform"
        case evaluations, curve
    }

    /// The summary with the run's evaluations and whole curve (``evaluations``, ``curve``).
    init(details: RunDetails) {
        self.init(record: details.run, evaluations: details.evaluations)
        evaluations = details.evaluations.filter { !ReferenceLines.isReference($0.name) }
            .map { EvaluationPoint(name: $0.name, value: $0.value, step: $0.step, rstSeconds: $0.rstSeconds) }
        curve = details.lossCurve.map {
            CurvePoint(step: $0.step, rstSeconds: $0.rstSeconds, wallSeconds: $0.wallSeconds, tokens: $0.tokens,
                       trainLoss: $0.trainLoss, learningRate: $0.learningRate)
        }
    }

    init(record r: RunRecord, evaluations: [Evaluation] = []) {
        let lines = ReferenceLines(stored: evaluations.map { (name: $0.name, value: $0.value) })
        referenceUnigram = lines?.unigram
        referenceUniform = lines?.uniform
        runID = r.id
        method = r.method
        model = r.model
        corpus = r.corpus
        seed = r.seed
        status = r.effectiveStatus.rawValue
        budget = r.budget?.description ?? "\(r.budgetAmount) \(r.budgetKind.rawValue)"
        budgetRSTSeconds = r.budgetKind == .rst ? r.budgetAmount : nil
        rstSeconds = r.rstSeconds
        wallSeconds = r.wallSeconds
        steps = r.steps
        tokens = r.tokens
        finalTrainLoss = r.finalTrainLoss
        valLoss = r.valLoss
        error = r.error
    }

    var referenceLines: ReferenceLines? {
        guard let referenceUnigram, let referenceUniform else { return nil }
        return ReferenceLines(unigram: referenceUnigram, uniform: referenceUniform, targets: 0)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        func loss(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "–" }
        return """
            run \(runID) \(status): \(method), model \(model), corpus \(corpus), seed \(seed)
              budget          \(budget)
              RST spent       \(Budget.formatReadable(rstSeconds))   wall \(Budget.formatReadable(wallSeconds))
              steps           \(steps)   tokens \(tokens)
              final train loss \(loss(finalTrainLoss))   validation loss \(loss(valLoss))
            """ + (referenceLines.map { "\n  reference lines \($0.text(loss: valLoss))" } ?? "") + (error.map { "\n  error: \($0)" } ?? "")
    }
}
