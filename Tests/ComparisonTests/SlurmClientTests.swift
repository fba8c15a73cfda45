import Foundation
import Testing
import TestSupport
@testable import Comparison

/// What ntng reads from Slurm's commands and what it hands them. The executor itself runs
/// against a real Slurm in scripts/slurm-tests (CI); these pin the formats and the errors.
@Suite struct SlurmClientTests {
    @Test func arraySpecsCompressRuns() {
        #expect(SlurmClient.arraySpec([0, 1, 2, 3]) == "0-3")
        #expect(SlurmClient.arraySpec([9, 0, 1, 2, 3, 7, 10]) == "0-3,7,9-10")
        #expect(SlurmClient.arraySpec([5]) == "5")
    }

    @Test func taskFieldsExpand() {
        #expect(SlurmClient.expandTaskField("7") == [7])
        #expect(SlurmClient.expandTaskField("[0-3,5]") == [0, 1, 2, 3, 5])
        #expect(SlurmClient.expandTaskField("[2-4%2]") == [2, 3, 4])
        #expect(SlurmClient.expandTaskField("N/A").isEmpty)
    }

    /// `squeue --array --states=all --format=%F|%K|%T|%r` as Slurm 22.05 prints it (taken from a
    /// run of scripts/slurm-cluster): other arrays' lines are ignored.
    @Test func squeueLines() {
        let text = """
            5|0|FAILED|NonZeroExitCode
            5|2|RUNNING|None
            5|1|CANCELLED|None
            6|0|PENDING|Resources
            5|[3-4]|PENDING|Priority
            """
        let states = SlurmClient.parseSqueue(text, arrayJob: "5")
        #expect(states.count == 5)
        #expect(states[0] == .init(state: "FAILED", detail: "NonZeroExitCode"))
        #expect(states[2]?.isLive == true && states[3]?.isLive == true && states[4]?.state == "PENDING")
        #expect(states[1]?.wasStopped == true && states[1]?.isLive == false)
        #expect(states[0]?.wasStopped == false)
    }

    @Test func sacctLines() {
        let text = """
            12_0|COMPLETED|0:0
            12_1|CANCELLED by 0|0:15
            12_[2-3]|PENDING|0:0
            13_0|FAILED|3:0
            """
        let states = SlurmClient.parseSacct(text, arrayJob: "12")
        #expect(states[0]?.state == "COMPLETED" && states[1]?.state == "CANCELLED" && states[1]?.detail == "exit code 0:15")
        #expect(states[2]?.state == "PENDING" && states[3]?.state == "PENDING" && states.count == 4)
    }

    @Test func maxArraySizeIsReadFromTheConfiguration() {
        #expect(SlurmClient.parseMaxArraySize("MailProg                = /bin/true\nMaxArraySize            = 1001\nMaxJobCount = 10000\n") == 1001)
        #expect(SlurmClient.parseMaxArraySize("MaxArraySize = 0\n") == nil)
        #expect(SlurmClient.parseMaxArraySize("") == nil)
    }

    /// What sbatch is handed, read back from an sbatch that records its arguments.
    @Test func submissionArguments() throws {
        let dir = try makeTemporaryDirectory()
        let bin = dir.appendingPathComponent("bin"), record = dir.appendingPathComponent("arguments")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let sbatch = bin.appendingPathComponent("sbatch")
        try "#!/bin/sh\nprintf '%s\\n' \"$@\" > '\(record.path)'\necho '4242;cluster-a'\n".write(to: sbatch, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: sbatch.path)
        let client = SlurmClient(scratch: dir, environment: ["PATH": bin.path])
        let id = try client.submitArray(script: dir.appendingPathComponent("array.sh"), indices: [0, 1, 2, 5], jobName: "ntng-compare",
                                        logPattern: "/logs/task-%a.log", workingDirectory: "/work dir",
                                        options: SlurmOptions(partition: "cpu", time: "0-01:00:00", cpus: 4, extra: ["--account=lab", "--qos=long"], maxRunning: 3))
        #expect(id == "4242")
        let given = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(given == ["--parsable", "--array=0-2,5%3", "--job-name=ntng-compare", "--output=/logs/task-%a.log", "--chdir=/work dir",
                          "--cpus-per-task=4", "--ntasks=1", "--nodes=1", "--partition=cpu", "--time=0-01:00:00",
                          "--account=lab", "--qos=long", dir.appendingPathComponent("array.sh").path])
    }

    @Test func timeLimitsRoundUpToMinutes() {
        #expect(SlurmOptions.timeLimit(seconds: 1) == "0-00:01:00")
        #expect(SlurmOptions.timeLimit(seconds: 3601) == "0-01:01:00")
        #expect(SlurmOptions.timeLimit(seconds: 2 * 86_400 + 59) == "2-00:01:00")
    }

    /// A task script runs its arguments exactly, whatever characters they hold.
    @Test func taskScriptsQuoteEveryArgument() throws {
        let dir = try makeTemporaryDirectory()
        let arguments = ["run", "--set", "note=it's a \"test\" $HOME `x` \\ ;", "--corpus", "/a b/c", "", "naïve", "--threads", "2"]
        let script = "#!/bin/bash\nexec " + (["/usr/bin/printf", "%s\\n"] + arguments).map(ShellWord.quoted).joined(separator: " ") + "\n"
        let url = dir.appendingPathComponent("task.sh")
        try script.write(to: url, atomically: true, encoding: .utf8)
        let printed = try runTool("/bin/bash", [url.path])
        #expect(printed == arguments.joined(separator: "\n") + "\n")
    }


    /// `--slurm-extra` splits as bash does (with globbing off and nothing to expand): each line's
    /// words are compared with what bash itself hands `printf`.
    @Test func slurmExtraSplitsAsTheShellDoes() throws {
        let lines = ["--account=lab --qos=long", "  --comment='two words'\t--mem=4G ", #"--comment="a \"b\" \\ c\ d" x"#,
                     #"a\ b 'it'\''s' "" ''"#, "--constraint=[avx512*2]", #"tab"\t"end"#, "", "one"]
        for line in lines {
            let bash = try runTool("/bin/bash", ["-c", "set -f; printf '%s\\0' " + line + "; printf '@'"])
            var expected = bash.dropLast().split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            expected.removeLast()  // printf's terminator after the last word
            if line.allSatisfy({ $0 == " " }) { expected = [] }  // printf '%s\0' with no word still prints one
            #expect(try ShellWord.split(line) == expected, "\(line)")
        }
        #expect(throws: ShellWordError.self) { try ShellWord.split("--comment='open") }
        #expect(throws: ShellWordError.self) { try ShellWord.split(#"--comment="open"#) }
        #expect(throws: ShellWordError.self) { try ShellWord.split(#"trailing\"#) }
    }
    @Test func missingCommandsAndFailuresAreNamed() throws {
        let dir = try makeTemporaryDirectory()
        let nowhere = SlurmClient(scratch: dir, environment: ["PATH": dir.appendingPathComponent("none").path])
        #expect(throws: SlurmError.missingCommand("sbatch")) {
            _ = try nowhere.submitArray(script: dir, indices: [0], jobName: "x", logPattern: "x", workingDirectory: "/", options: SlurmOptions())
        }
        #expect(SlurmError.missingCommand("sbatch").description.contains("slurm-client"))

        // A controller that refuses the job: its own words reach the user.
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let sbatch = bin.appendingPathComponent("sbatch")
        try "#!/bin/sh\necho 'sbatch: error: invalid partition specified: gpu' >&2\nexit 1\n".write(to: sbatch, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: sbatch.path)
        let refusing = SlurmClient(scratch: dir, environment: ["PATH": bin.path])
        do {
            _ = try refusing.submitArray(script: dir, indices: [0, 1], jobName: "x", logPattern: "x", workingDirectory: "/",
                                         options: SlurmOptions(partition: "gpu"))
            Issue.record("a refused submission was taken for a job")
        } catch let error as SlurmError {
            #expect("\(error)".contains("invalid partition specified: gpu") && "\(error)".contains("--partition=gpu"))
        }
    }
}

/// The submission ledger: what is open, the latest task of a trial, and its file round trip.
@Suite struct SlurmLedgerTests {
    func task(_ index: Int, _ trial: String, ended: SlurmClient.TaskState? = nil) -> SlurmLedger.Task {
        SlurmLedger.Task(index: index, trial: trial, label: trial, log: "/logs/\(index).log", ended: ended)
    }

    @Test func openTasksAndTheLatestTaskOfATrial() throws {
        var ledger = SlurmLedger()
        ledger.submissions.append(.init(jobID: "7", submittedAt: Date(timeIntervalSince1970: 1), folder: "/a",
                                        tasks: [task(0, "x", ended: .init(state: "CANCELLED")), task(1, "y")]))
        ledger.submissions.append(.init(jobID: "9", submittedAt: Date(timeIntervalSince1970: 2), folder: "/b", tasks: [task(0, "x")]))
        #expect(ledger.openTasks.map { "\($0.jobID)_\($0.task.index)" } == ["7_1", "9_0"])
        // The resubmission is the one that counts for x.
        #expect(ledger.latestTask(of: "x")?.jobID == "9" && ledger.latestTask(of: "x")?.task.ended == nil)
        #expect(ledger.latestTask(of: "z") == nil)
        ledger.markEnded(jobID: "9", index: 0, .init(state: "COMPLETED", detail: "None"))
        ledger.markEnded(jobID: "5", index: 0, .init(state: "FAILED"))  // unknown job: nothing changes
        #expect(ledger.openTasks.map(\.jobID) == ["7"])
        #expect(ledger.latestTask(of: "x")?.task.ended?.state == "COMPLETED")

        let url = try makeTemporaryDirectory().appendingPathComponent("submissions.json")
        try ledger.save(url)
        #expect(try SlurmLedger.load(url) == ledger)
        try Data("{\"submissions\": 3}".utf8).write(to: url)
        #expect(throws: CompareError.self) { _ = try SlurmLedger.load(url) }
        #expect(try SlurmLedger.load(url.deletingLastPathComponent().appendingPathComponent("none.json")) == SlurmLedger())
    }

    /// The array about to be submitted is on record, and ledgers from before `pending` still load.
    @Test func pendingArraysRoundTripAndOldLedgersLoad() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("submissions.json")
        var ledger = SlurmLedger()
        ledger.pending.append(.init(jobName: "ntng-1a2b3c4d", createdAt: Date(timeIntervalSince1970: 10), folder: "/j", tasks: [task(0, "x")]))
        try ledger.save(url)
        #expect(try SlurmLedger.load(url) == ledger)
        // A pending array is not a submission: its tasks are not open until Slurm confirms it.
        #expect(ledger.openTasks.isEmpty && ledger.latestTask(of: "x") == nil)
        try Data(#"{"submissions": [{"jobID": "4", "submittedAt": "2026-12-01T10:00:00Z", "folder": "/a", "tasks": []}]}"#.utf8).write(to: url)
        let old = try SlurmLedger.load(url)
        #expect(old.submissions.map(\.jobID) == ["4"] && old.pending.isEmpty)
    }
}

/// Finding an array by its job name, from squeue's and sacct's own lines.
@Suite struct SlurmJobNameTests {
    @Test func jobIDsAreReadFromEitherCommandsLines() {
        #expect(SlurmClient.parseJobIDs("12\n12\n12\n") == ["12"])
        #expect(SlurmClient.parseJobIDs("12_[0-3]\n12_4\n13_0\n") == ["12", "13"])
        #expect(SlurmClient.parseJobIDs("\n").isEmpty)
    }

    /// What squeue is asked, read back from a squeue that records it; sacct is asked only when
    /// squeue knows no such job.
    @Test func squeueThenSacctAreAskedByName() throws {
        let dir = try makeTemporaryDirectory()
        let bin = dir.appendingPathComponent("bin"), record = dir.appendingPathComponent("asked")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for (tool, answer) in [("squeue", ""), ("sacct", "31_0\n31_1\n")] {
            let url = bin.appendingPathComponent(tool)
            try "#!/bin/sh\necho \"\(tool) $*\" >> '\(record.path)'\nprintf '\(answer)'\n".write(to: url, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        let client = SlurmClient(scratch: dir, environment: ["PATH": bin.path])
        #expect(try client.arrayJobs(named: "ntng-1a2b3c4d", since: Date()) == ["31"])
        let asked = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(asked.count == 2 && asked[0] == "squeue --noheader --states=all --name=ntng-1a2b3c4d --format=%F", "\(asked)")
        #expect(asked[1].hasPrefix("sacct --noheader --parsable2 --allocations --name=ntng-1a2b3c4d --starttime=20"), "\(asked)")
    }
}
