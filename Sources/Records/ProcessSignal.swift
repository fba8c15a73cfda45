import Foundation

/// Names for the signals that end child processes (trials, the plugin checker), for messages.
public enum ProcessSignal {
    public static func describe(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: return "SIGSEGV, a bad memory access"
        case SIGABRT: return "SIGABRT, abort or a failed assertion"
        case SIGBUS: return "SIGBUS, a bad memory access"
        case SIGFPE: return "SIGFPE, an arithmetic fault"
        case SIGILL: return "SIGILL, an illegal instruction or a Swift trap"
        case SIGTRAP: return "SIGTRAP, a Swift runtime trap"
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        default: return "signal \(signal)"
        }
    }
}
