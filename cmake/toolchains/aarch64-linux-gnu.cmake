# Cross build for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu and the arm64 multiarch
# -dev packages (scripts/install-deps.sh --aarch64). Test binaries run through qemu-aarch64, which
# finds the arm64 loader and libraries in the multiarch directories; QEMU_CPU picks the emulated CPU
# (tests/CMakeLists.txt runs the ARM kernel tests on `max` and on `cortex-a53`).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
# Libraries and pkg-config files of the target only; headers-only packages (CLI11, nlohmann-json)
# come from /usr/share, which is architecture-independent.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
