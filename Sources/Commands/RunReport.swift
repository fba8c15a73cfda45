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

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", method, model, corpus, seed, status, budget
        case budgetRSTSeconds = "budget_rst_s", rstSeconds = "rst_s", wallSeconds = "wall_s", steps, tokens
        case finalTrainLoss = "final_train_loss", valLoss = "val_loss", error
        case referenceUnigram = "reference_unigram", referenceUniform = "reference_uniform"
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
