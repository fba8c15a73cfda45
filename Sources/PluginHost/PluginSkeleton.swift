import Foundation

/// The files `ntng plugin new NAME --lang c|swift` writes: a buildable plugin that passes
/// `ntng plugin check`, a copy of the header, and a build script.
public enum PluginSkeleton {
    public enum Language: String, Sendable, CaseIterable {
        case c, swift
    }

    /// Files (relative path → contents) of a new plugin called `name`. `header` is the text of
    /// ntng_plugin.h, copied into `include/` so the folder builds on its own.
    public static func files(name: String, language: Language, header: String) throws -> [(path: String, contents: String)] {
        guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" }), name.count <= 64 else {
            throw PluginError(.check, plugin: name, hook: "new", "a plugin name is a letter followed by letters, digits or _ (e.g. MyMethod)")
        }
        let id = "local." + name.lowercased()
        switch language {
        case .c:
            return [
                ("include/ntng_plugin.h", header),
                ("\(name).c", cSource(name: name, id: id)),
                ("build.sh", """
                    #!/bin/sh
                    # Builds lib\(name).so from one C file, then runs the conformance checks.
                    set -e
                    cd "$(dirname "$0")"
                    cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -fvisibility=hidden -I include -o lib\(name).so \(name).c
                    echo "built $(pwd)/lib\(name).so; check it with: ntng plugin check $(pwd)/lib\(name).so"

                    """),
            ]
        case .swift:
            return [
                ("include/ntng_plugin.h", header),
                ("include/module.modulemap", "module PluginAPI {\n    header \"ntng_plugin.h\"\n    export *\n}\n"),
                ("\(name).swift", swiftSource(name: name, id: id)),
                ("build.sh", """
                    #!/bin/sh
                    # Builds lib\(name).so with swiftc. Use the same Swift toolchain as the ntng host:
                    # Swift's ABI is not stable on Linux.
                    set -e
                    cd "$(dirname "$0")"
                    swiftc -O -parse-as-library -emit-library -module-name \(name) -I include -o lib\(name).so \(name).swift
                    echo "built $(pwd)/lib\(name).so; check it with: ntng plugin check $(pwd)/lib\(name).so"

                    """),
            ]
        }
    }

    static func cSource(name: String, id: String) -> String {
        """
        /* \(name): an ntng method plugin (PluginAPI v1.1). See docs/plugins.md for every hook and service.
         * Build: ./build.sh   Check: ntng plugin check ./lib\(name).so   Run: ntng run --method ./lib\(name).so */
        #include <stdlib.h>
        #include <string.h>

        #include "ntng_plugin.h"

        typedef struct instance {
          const ntng_host *host; /* valid until destroy */
          double lr_scale;       /* from config key "lr_scale" */
          uint64_t steps;        /* private state, saved by save_state */
        } instance;

        static ntng_status create(const ntng_host *h, void **out_self) {
          instance *self = (instance *)calloc(1, sizeof *self);
          if (!self) {
            h->set_error(h, NTNG_E_NO_MEMORY, "out of memory");
            return NTNG_E_NO_MEMORY;
          }
          self->host = h;
          if (h->config_double(h, "lr_scale", &self->lr_scale) != NTNG_OK || !(self->lr_scale >= 0)) {
            free(self);
            h->set_error(h, NTNG_E_INVALID, "lr_scale must be a number >= 0");
            return NTNG_E_INVALID;
          }
          *out_self = self;
          return NTNG_OK;
        }

        static void destroy(void *self) { free(self); }

        /* Before each step: scale the learning rate; layer_keep[m * num_layers + l] = 0 would skip layer l. */
        static ntng_status on_step(void *self_, const ntng_step_info *s, ntng_step_plan *plan) {
          instance *self = (instance *)self_;
          (void)s;
          self->steps++;
          plan->lr_scale = (float)self->lr_scale;
          return NTNG_OK;
        }

        /* The private state: the step counter, 8 bytes little-endian. */
        static ntng_status save_state(void *self_, const ntng_ostream *out) {
          const instance *self = (const instance *)self_;
          unsigned char bytes[8];
          for (int k = 0; k < 8; k++) bytes[k] = (unsigned char)(self->steps >> (8 * k));
          for (uint64_t done = 0; done < sizeof bytes;) {
            int64_t n = out->write(out, bytes + done, sizeof bytes - done);
            if (n <= 0) {
              self->host->set_error(self->host, NTNG_E_IO, "the state stream refused bytes");
              return NTNG_E_IO;
            }
            done += (uint64_t)n;
          }
          return NTNG_OK;
        }

        static ntng_status load_state(void *self_, const ntng_istream *in) {
          instance *self = (instance *)self_;
          unsigned char bytes[8];
          for (uint64_t done = 0; done < sizeof bytes;) {
            int64_t n = in->read(in, bytes + done, sizeof bytes - done);
            if (n <= 0) {
              self->host->set_error(self->host, NTNG_E_IO, "the saved state is shorter than 8 bytes");
              return NTNG_E_IO;
            }
            done += (uint64_t)n;
          }
          self->steps = 0;
          for (int k = 0; k < 8; k++) self->steps |= (uint64_t)bytes[k] << (8 * k);
          return NTNG_OK;
        }

        /* The tables are constants: fields not named are zero (a hook left out is absent). */
        static const ntng_config_key key_lr_scale = {
            .struct_size = sizeof(ntng_config_key),
            .type = NTNG_CONFIG_DOUBLE,
            .key = "lr_scale",
            .default_value = "1.0",
            .help = "factor applied to the scheduled learning rate",
        };
        static const ntng_config_key *const config_keys[] = {&key_lr_scale, NULL};

        static const ntng_hooks hooks = {
            .struct_size = sizeof(ntng_hooks),
            .on_step = on_step,
            .save_state = save_state,
            .load_state = load_state,
        };

        static const ntng_descriptor descriptor = {
            .struct_size = sizeof(ntng_descriptor),
            .abi_major = NTNG_ABI_MAJOR,
            .abi_minor = NTNG_ABI_MINOR,
            .id = "\(id)",
            .name = "\(name)",
            .version = "0.1.0",
            .description = "\(name) training method",
            .config_keys = config_keys,
            .hooks = &hooks,
            .create = create,
            .destroy = destroy,
        };

        static const ntng_entry entry = {
            .struct_size = sizeof(ntng_entry),
            .abi_major = NTNG_ABI_MAJOR,
            .abi_minor = NTNG_ABI_MINOR,
            .descriptor = &descriptor,
        };

        NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }

        """
    }

    static func swiftSource(name: String, id: String) -> String {
        """
        // \(name): an ntng method plugin in Swift (PluginAPI v1.1). See docs/plugins.md.
        // Build: ./build.sh   Check: ntng plugin check ./lib\(name).so
        import PluginAPI
        #if canImport(Glibc)
        import Glibc
        #endif

        private final class Instance {
            let host: UnsafePointer<ntng_host>
            let lrScale: Double
            var steps: UInt64 = 0
            init(host: UnsafePointer<ntng_host>, lrScale: Double) { self.host = host; self.lrScale = lrScale }
            static func from(_ raw: UnsafeMutableRawPointer?) -> Instance { Unmanaged<Instance>.fromOpaque(raw!).takeUnretainedValue() }
        }

        private func permanent(_ s: String) -> UnsafePointer<CChar> { UnsafePointer(strdup(s)!) }

        private let create: @convention(c) (UnsafePointer<ntng_host>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> ntng_status = { h, out in
            guard let h, let out else { return NTNG_E_INVALID }
            var scale = 1.0
            guard h.pointee.config_double(h, "lr_scale", &scale) == NTNG_OK, scale >= 0 else {
                "lr_scale must be a number >= 0".withCString { h.pointee.set_error(h, NTNG_E_INVALID, $0) }
                return NTNG_E_INVALID
            }
            out.pointee = Unmanaged.passRetained(Instance(host: h, lrScale: scale)).toOpaque()
            return NTNG_OK
        }

        private let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
            if let raw { Unmanaged<Instance>.fromOpaque(raw).release() }
        }

        private let onStep: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_step_info>?, UnsafeMutablePointer<ntng_step_plan>?) -> ntng_status = { raw, _, plan in
            let me = Instance.from(raw)
            me.steps += 1
            plan?.pointee.lr_scale = Float(me.lrScale)
            return NTNG_OK
        }

        private let saveState: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_ostream>?) -> ntng_status = { raw, out in
            guard let out else { return NTNG_E_INVALID }
            var value = Instance.from(raw).steps.littleEndian
            var done = 0
            while done < 8 {
                let n = withUnsafeBytes(of: &value) { out.pointee.write(out, $0.baseAddress! + done, UInt64(8 - done)) }
                if n <= 0 {
                    let h = Instance.from(raw).host
                    "the state stream refused bytes".withCString { h.pointee.set_error(h, NTNG_E_IO, $0) }
                    return NTNG_E_IO
                }
                done += Int(n)
            }
            return NTNG_OK
        }

        private let loadState: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_istream>?) -> ntng_status = { raw, input in
            guard let input else { return NTNG_E_INVALID }
            var value: UInt64 = 0
            var done = 0
            while done < 8 {
                let n = withUnsafeMutableBytes(of: &value) { input.pointee.read(input, $0.baseAddress! + done, UInt64(8 - done)) }
                if n <= 0 {
                    let h = Instance.from(raw).host
                    "the saved state is shorter than 8 bytes".withCString { h.pointee.set_error(h, NTNG_E_IO, $0) }
                    return NTNG_E_IO
                }
                done += Int(n)
            }
            Instance.from(raw).steps = UInt64(littleEndian: value)
            return NTNG_OK
        }

        // The tables, built once: a Swift global's initializer runs exactly once, under swift_once,
        // even when two instances are created at the same time; they live for the process.
        nonisolated(unsafe) private let entryTable: UnsafePointer<ntng_entry> = {
            let key = UnsafeMutablePointer<ntng_config_key>.allocate(capacity: 1)
            key.initialize(to: ntng_config_key(struct_size: UInt32(MemoryLayout<ntng_config_key>.size), type: NTNG_CONFIG_DOUBLE,
                                               key: permanent("lr_scale"), default_value: permanent("1.0"),
                                               help: permanent("factor applied to the scheduled learning rate")))
            let keys = UnsafeMutablePointer<UnsafePointer<ntng_config_key>?>.allocate(capacity: 2)
            keys[0] = UnsafePointer(key)
            keys[1] = nil
            var hooks = ntng_hooks()
            hooks.struct_size = UInt32(MemoryLayout<ntng_hooks>.size)
            hooks.on_step = onStep
            hooks.save_state = saveState
            hooks.load_state = loadState
            let hooksTable = UnsafeMutablePointer<ntng_hooks>.allocate(capacity: 1)
            hooksTable.initialize(to: hooks)
            var d = ntng_descriptor()
            d.struct_size = UInt32(MemoryLayout<ntng_descriptor>.size)
            d.abi_major = UInt16(NTNG_ABI_MAJOR)
            d.abi_minor = UInt16(NTNG_ABI_MINOR)
            d.id = permanent("\(id)")
            d.name = permanent("\(name)")
            d.version = permanent("0.1.0")
            d.config_keys = UnsafePointer(keys)
            d.hooks = UnsafePointer(hooksTable)
            d.create = create
            d.destroy = destroy
            let descriptor = UnsafeMutablePointer<ntng_descriptor>.allocate(capacity: 1)
            descriptor.initialize(to: d)
            let entry = UnsafeMutablePointer<ntng_entry>.allocate(capacity: 1)
            entry.initialize(to: ntng_entry(struct_size: UInt32(MemoryLayout<ntng_entry>.size), abi_major: UInt16(NTNG_ABI_MAJOR),
                                            abi_minor: UInt16(NTNG_ABI_MINOR), init: nil, descriptor: UnsafePointer(descriptor)))
            return UnsafePointer(entry)
        }()

        @_cdecl("ntng_get_entry_v1")
        public func ntngGetEntryV1() -> UnsafePointer<ntng_entry>? { entryTable }

        """
    }

    /// Finds ntng_plugin.h: `Sources/PluginAPI/include` above the current folder or the
    /// executable (a source checkout), or `include/ntng` beside an installed `bin/ntng`.
    public static func locateHeader(executable: URL? = PluginSearchPath.currentExecutable,
                                    currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> URL? {
        var starts = [currentDirectory]
        if let executable { starts.append(executable.deletingLastPathComponent()) }
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<8 {
                for candidate in ["Sources/PluginAPI/include/ntng_plugin.h", "include/ntng/ntng_plugin.h"] {
                    let url = dir.appendingPathComponent(candidate)
                    if FileManager.default.fileExists(atPath: url.path) { return url }
                }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
