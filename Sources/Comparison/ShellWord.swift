/// A string as one word of a POSIX shell command: as it is when it holds only characters the shell
/// takes literally, else in single quotes (a `'` inside becomes `'\''`). Used for the commands
/// people copy (``ComparisonRequest/commandLine``) and the scripts Slurm runs.
enum ShellWord {
    static func quoted(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.,=/+:@%".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
