import Foundation
import Host
import Clock

/// The live one-line progress display on stderr, redrawn at most a few times a second.
final class ProgressLine {
    private let enabled: Bool
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastDraw = 0.0
    private var drewLine = false

    init(enabled: Bool) { self.enabled = enabled }

    func note(_ message: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    func update(_ p: TrainingProgress) {
        guard enabled, p.wallSeconds - lastDraw >= (isTerminal ? 0.5 : 15) else { return }
        lastDraw = p.wallSeconds
        let eta = p.budgetFraction > 0 ? p.wallSeconds * (1 - p.budgetFraction) / p.budgetFraction : 0
        let elapsed = p.budget.kind == .steps ? "\(p.step) steps" : Budget.formatReadable(p.budget.kind == .wall ? p.wallSeconds : p.rstSeconds)
        let line = String(format: "step %d | %@ of %@ (%.1f%%) | loss %.4f | lr %.2e | %.0f tok/s | wall ETA %@",
                          p.step, elapsed, p.budget.description, p.budgetFraction * 100, p.trainLoss, p.learningRate,
                          p.tokensPerSecond, Budget.formatReadable(eta))
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + (isTerminal ? "" : "\n")).utf8))
        drewLine = isTerminal
    }

    func finish() {
        if drewLine { FileHandle.standardError.write(Data("\n".utf8)) }
        drewLine = false
    }
}
