/// A string as one word of a POSIX shell command: as it is when it holds only characters the shell
/// takes literally, else in single quotes (a `'` inside becomes `'\''`). Used for the commands
/// people copy (``ComparisonRequest/commandLine``) and the scripts Slurm runs.
public enum ShellWord {
    public static func quoted(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.,=/+:@%".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The words a POSIX shell would make of `line` without expanding anything: blanks separate
    /// words; single quotes keep everything literally; in double quotes a backslash escapes only
    /// `"`, `\\`, `$` and `` ` ``; outside quotes a backslash escapes the next character. So
    /// `--slurm-extra "--comment='two words' --qos=long"` passes sbatch two arguments, as typing
    /// them would. Throws ``ShellWordError`` for an unclosed quote or a trailing backslash.
    public static func split(_ line: String) throws -> [String] {
        var words: [String] = [], word = "", inWord = false
        var quote: Character? = nil, escaped = false
        for c in line {
            if escaped {
                if quote == "\"" && !"\"\\$`".contains(c) { word.append("\\") }
                word.append(c); escaped = false
            } else if quote == "'" {
                if c == "'" { quote = nil } else { word.append(c) }
            } else if c == "\\" {
                escaped = true; inWord = true
            } else if quote == "\"" {
                if c == "\"" { quote = nil } else { word.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c; inWord = true
            } else if c == " " || c == "\t" || c == "\n" {
                if inWord { words.append(word); word = ""; inWord = false }
            } else {
                word.append(c); inWord = true
            }
        }
        if escaped { throw ShellWordError(line: line, problem: "it ends in a backslash that escapes nothing") }
        if let quote { throw ShellWordError(line: line, problem: "its \(quote == "'" ? "single" : "double") quote (\(quote)) is never closed") }
        if inWord { words.append(word) }
        return words
    }
}

/// Text that does not split into shell words (``ShellWord/split(_:)``).
public struct ShellWordError: Error, CustomStringConvertible, Equatable {
    public let line: String
    public let problem: String
    public var description: String { "cannot split \(ShellWord.quoted(line)) into words: \(problem)" }
}
