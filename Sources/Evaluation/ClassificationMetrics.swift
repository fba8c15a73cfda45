import Corpus
import Tasks
import Clock
import Records
import Storage
import Host

/// Scores of one set of predictions.
public struct ClassificationScores: Codable, Sendable, Equatable {
    public var accuracy: Double
    /// F1 of the positive class; nil for tasks with more than two classes.
    public var f1: Double?
    /// Matthews correlation (the multi-class R_K for more than two classes).
    public var mcc: Double

    public init(accuracy: Double, f1: Double?, mcc: Double) {
        self.accuracy = accuracy
        self.f1 = f1
        self.mcc = mcc
    }

    /// The value of `metric` (F1 falls back to accuracy where it is undefined).
    public func value(_ metric: TaskMetric) -> Double {
        switch metric {
        case .accuracy: return accuracy
        case .f1: return f1 ?? accuracy
        case .mcc: return mcc
        }
    }
}

/// Accuracy, F1 and Matthews correlation, with the conventions of scikit-learn (which GLUE's
/// scoring uses): an undefined F1 (no positive labels and no positive predictions) is 0, and an
/// undefined MCC (a constant prediction or a single true class) is 0.
public enum ClassificationMetrics {
    public static func accuracy(predictions: [Int32], labels: [Int32]) -> Double {
        precondition(predictions.count == labels.count)
        guard !labels.isEmpty else { return 0 }
        return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// F1 of class `positive`: 2·TP / (2·TP + FP + FN).
    public static func f1(predictions: [Int32], labels: [Int32], positive: Int32) -> Double {
        precondition(predictions.count == labels.count)
        var tp = 0, fp = 0, fn = 0
        for (p, l) in zip(predictions, labels) {
            if p == positive && l == positive { tp += 1 } else if p == positive { fp += 1 } else if l == positive { fn += 1 }
        }
        let denominator = 2 * tp + fp + fn
        return denominator == 0 ? 0 : Double(2 * tp) / Double(denominator)
    }

    /// Matthews correlation over `classes` classes (Gorodkin's R_K, which is the usual
    /// (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)) for two):
    /// (c·s − Σ pₖtₖ) / √((s² − Σ pₖ²)(s² − Σ tₖ²)), c correct, s total, pₖ/tₖ predicted/true counts.
    public static func mcc(predictions: [Int32], labels: [Int32], classes: Int) -> Double {
        precondition(predictions.count == labels.count)
        var predicted = [Double](repeating: 0, count: classes), truth = [Double](repeating: 0, count: classes)
        var correct = 0.0
        for (p, l) in zip(predictions, labels) {
            predicted[Int(p)] += 1
            truth[Int(l)] += 1
            if p == l { correct += 1 }
        }
        let s = Double(labels.count)
        let covariance = correct * s - zip(predicted, truth).reduce(0) { $0 + $1.0 * $1.1 }
        let predictedSpread = s * s - predicted.reduce(0) { $0 + $1 * $1 }
        let trueSpread = s * s - truth.reduce(0) { $0 + $1 * $1 }
        let denominator = (predictedSpread * trueSpread).squareRoot()
        return denominator == 0 ? 0 : covariance / denominator
    }

    /// All three scores; F1 only for binary tasks (of `positive`, default class 1).
    public static func scores(predictions: [Int32], labels: [Int32], classes: Int, positive: Int? = nil) -> ClassificationScores {
        let f1: Double? = classes == 2
            ? Self.f1(predictions: predictions, labels: labels, positive: Int32(positive ?? 1)) : nil
        return ClassificationScores(accuracy: accuracy(predictions: predictions, labels: labels), f1: f1,
                                    mcc: mcc(predictions: predictions, labels: labels, classes: classes))
    }

    /// The most frequent training label (ties: the lower class id) and the scores of always
    /// predicting it on `evaluationLabels`.
    public static func majorityBaseline(trainLabels: [Int32], evaluationLabels: [Int32], classes: Int,
                                        positive: Int? = nil) -> (label: Int32, scores: ClassificationScores) {
        var counts = [Int](repeating: 0, count: classes)
        for l in trainLabels { counts[Int(l)] += 1 }
        let majority = Int32(counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) } ?? 0)
        let predictions = [Int32](repeating: majority, count: evaluationLabels.count)
        return (majority, scores(predictions: predictions, labels: evaluationLabels, classes: classes, positive: positive))
    }
}
