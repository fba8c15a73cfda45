import Corpus
@testable import Tasks
import Testing
@testable import Host
@testable import Evaluation

/// Metrics against values computed by hand (and agreeing with scikit-learn's conventions).
@Suite struct EvaluationMetricsTests {
    @Test func binaryMetricsMatchHandComputedValues() {
        // TP = 2 (rows 0, 1), FN = 1 (row 2), FP = 1 (row 3), TN = 2 (rows 4, 5).
        let labels: [Int32] = [1, 1, 1, 0, 0, 0]
        let predictions: [Int32] = [1, 1, 0, 1, 0, 0]
        #expect(ClassificationMetrics.accuracy(predictions: predictions, labels: labels) == 4.0 / 6.0)
        // F1 = 2·2 / (2·2 + 1 + 1) = 2/3.
        #expect(abs(ClassificationMetrics.f1(predictions: predictions, labels: labels, positive: 1) - 2.0 / 3.0) < 1e-12)
        // MCC = (2·2 − 1·1) / √(3·3·3·3) = 3/9.
        #expect(abs(ClassificationMetrics.mcc(predictions: predictions, labels: labels, classes: 2) - 1.0 / 3.0) < 1e-12)
        // Which class is positive matters.
        let skewed: [Int32] = [1, 0, 0, 0, 0, 0]
        #expect(abs(ClassificationMetrics.f1(predictions: skewed, labels: labels, positive: 1) - 0.5) < 1e-12)   // 2·1/(2+0+2)
        #expect(abs(ClassificationMetrics.f1(predictions: skewed, labels: labels, positive: 0) - 0.75) < 1e-12)  // 2·3/(6+2+0)
    }

    @Test func edgeCasesFollowScikitLearn() {
        // Perfect and perfectly inverted predictions.
        #expect(ClassificationMetrics.mcc(predictions: [0, 1, 0, 1], labels: [0, 1, 0, 1], classes: 2) == 1)
        #expect(ClassificationMetrics.mcc(predictions: [1, 0, 1, 0], labels: [0, 1, 0, 1], classes: 2) == -1)
        // A constant prediction has zero variance: MCC is 0 (not NaN).
        #expect(ClassificationMetrics.mcc(predictions: [0, 0, 0, 0], labels: [0, 1, 0, 1], classes: 2) == 0)
        // A single true class: MCC 0 even when every prediction is right.
        #expect(ClassificationMetrics.mcc(predictions: [1, 1, 1], labels: [1, 1, 1], classes: 2) == 0)
        // No positives anywhere: F1 is 0 (undefined → 0); no positive predictions: 0.
        #expect(ClassificationMetrics.f1(predictions: [0, 0], labels: [0, 0], positive: 1) == 0)
        #expect(ClassificationMetrics.f1(predictions: [0, 0], labels: [1, 0], positive: 1) == 0)
        #expect(ClassificationMetrics.f1(predictions: [1, 1], labels: [1, 1], positive: 1) == 1)
        #expect(ClassificationMetrics.accuracy(predictions: [], labels: []) == 0)
    }

    @Test func multiClassMCCIsGorodkinsRK() {
        // Confusion (rows truth, columns prediction): [[2,1,0],[0,2,0],[1,0,1]]; c = 5, s = 7,
        // t = (3,2,2), p = (3,3,1): (5·7 − (9+6+2)) / √((49 − 19)(49 − 17)) = 18 / √960.
        let labels: [Int32] = [0, 0, 0, 1, 1, 2, 2]
        let predictions: [Int32] = [0, 0, 1, 1, 1, 0, 2]
        #expect(abs(ClassificationMetrics.mcc(predictions: predictions, labels: labels, classes: 3) - 18 / 960.0.squareRoot()) < 1e-12)
        let s = ClassificationMetrics.scores(predictions: predictions, labels: labels, classes: 3)
        #expect(s.f1 == nil && abs(s.accuracy - 5.0 / 7.0) < 1e-12)
        #expect(s.value(.f1) == s.accuracy)  // falls back where F1 is undefined
    }

    @Test func majorityBaselineUsesTrainingLabels() {
        // Training majority is class 2; the evaluation split holds 1 of 4 of it.
        let result = ClassificationMetrics.majorityBaseline(trainLabels: [2, 2, 0, 1, 2], evaluationLabels: [0, 2, 1, 1], classes: 3)
        #expect(result.label == 2)
        #expect(result.scores.accuracy == 0.25 && result.scores.mcc == 0 && result.scores.f1 == nil)
        // Ties go to the lower class id; binary F1 of always predicting the positive class.
        let binary = ClassificationMetrics.majorityBaseline(trainLabels: [0, 1, 1, 0], evaluationLabels: [1, 1, 0], classes: 2, positive: 0)
        #expect(binary.label == 0 && abs(binary.scores.f1! - 0.5) < 1e-12)  // 2·1/(2+2+0)
    }
}
