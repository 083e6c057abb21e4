{
  "targets": [
    {
      "target_name": "tapio_native",
      "sources": ["src/addon.cc", "src/object.cc", "src/maps.cc", "src/ring_reader.cc", "src/log_capture.cc", "src/fd_registry.cc", "src/clock.cc", "src/record_source.cc", "src/object_setup.cc", "src/audit_reader.cc", "src/memory.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-lpthread"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
