/// The encoder input of one instance in the paper's protocol, "task definition + 2 positive
/// examples": Tk-Instruct's template (its `DataCollatorForNI`, which nanoT5's fine-tuning uses)
/// with the task name, negative examples and explanations left out:
///
///     Definition: <definition>.
///
///      Positive Example 1 -
///     Input: <input>.
///      Output: <output>.
///      Positive Example 2 -
///     …
///     Now complete the following example -
///     Input: <input>.
///     Output:␠
///
/// A full stop is added where a part does not already end in ASCII punctuation. Tk-Instruct
/// drops a positive example that would make the prompt longer than the source limit; `fits`
/// decides that here, given the candidate prompt.
public enum InstructionPrompt {
    public static func source(definition: String, positiveExamples: [InstructionTask.Example], input: String,
                              examples count: Int = 2, fits: (String) -> Bool = { _ in true }) -> String {
        let head = "Definition: " + endingInPunctuation(definition.pythonStripped) + "\n\n"
        let tail = "Now complete the following example -\n" + "Input: " + endingInPunctuation(input.pythonStripped) + "\n" + "Output: "
        var shown: [String] = []
        for (i, example) in positiveExamples.prefix(count).enumerated() {
            let text = " Positive Example \(i + 1) -\n" + "Input: " + endingInPunctuation(example.input.pythonStripped) + "\n"
                + " Output: " + endingInPunctuation(example.output.pythonStripped) + "\n"
            // Tk-Instruct measures the candidate with the examples joined by a space.
            guard fits(head + (shown + [text]).joined(separator: " ") + tail) else { break }
            shown.append(text)
        }
        return head + shown.joined() + tail
    }

    public static func source(task: InstructionTask, instance: InstructionTask.Instance, examples count: Int = 2,
                              fits: (String) -> Bool = { _ in true }) -> String {
        source(definition: task.definition.first ?? "", positiveExamples: task.positiveExamples, input: instance.input,
               examples: count, fits: fits)
    }

    static func endingInPunctuation(_ s: String) -> String {
        s.unicodeScalars.last?.isPythonPunctuation == true ? s : s + "."
    }
}

