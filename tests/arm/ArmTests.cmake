# The ARM kernel sets under qemu-aarch64 (included by tests/CMakeLists.txt in the aarch64 cross
# build; the emulator comes from the toolchain file, the emulated CPU from QEMU_CPU).
#  - label arm-ci: the bounded subset CI runs (`ctest --preset aarch64`, a few minutes): every ARM
#    kernel against the oracle on `max` (neon + dotprod + i8mm) and on `cortex-a53` (neon only),
#    one golden case per weight type bit for bit with each set, and the CLI's run, bench and
#    crossval-per-token on the tiny fixtures.
#  - label arm-full: every golden case with every set; with the gtest-discovered unit tests
#    (label emulated) that is `ctest --preset aarch64-full` (scripts/test-aarch64.sh --full).
set(BITNET_ARM_KERNEL_FILTER
    "AllIsas/*:F16Gemv.*:KernelsF16Dot.*:HeadGemv.*:OpsRows.*:BitLinear.*:CpuFeatures.*:Quantize.*:QuantTypes.*:KernelsKvQ8.*:Attention.*")
set(BITNET_ARM_GOLDEN_FILTER
    "ForwardGolden.BitnetCppI2S:ForwardGolden.UpstreamTQ2_0:ForwardGolden.UpstreamTQ1_0")
set(BITNET_TINY_TQ2 ${BITNET_FIXTURES_DIR}/tiny-bitnet-tq2_0.gguf)
set(BITNET_TINY_I2S ${BITNET_FIXTURES_DIR}/tiny-b158-i2s.gguf)

foreach(cpu max cortex-a53)
  add_test(NAME arm_kernels_${cpu} COMMAND bitnet_tests --gtest_filter=${BITNET_ARM_KERNEL_FILTER})
  set_tests_properties(arm_kernels_${cpu} PROPERTIES ENVIRONMENT "QEMU_CPU=${cpu}" LABELS arm-ci TIMEOUT 1800)
endforeach()

# (emulated CPU, kernel set): the fastest set of each CPU in CI, every combination in the full run.
foreach(combo "max:dotprod" "cortex-a53:neon" "max:neon" "max:scalar")
  string(REPLACE ":" ";" parts ${combo})
  list(GET parts 0 cpu)
  list(GET parts 1 isa)
  add_test(NAME arm_golden_${cpu}_${isa} COMMAND bitnet_tests --gtest_filter=${BITNET_ARM_GOLDEN_FILTER})
  set_tests_properties(arm_golden_${cpu}_${isa} PROPERTIES
    ENVIRONMENT "QEMU_CPU=${cpu};BITNET_CPU=${isa}" LABELS arm-full TIMEOUT 3600)
  if(combo STREQUAL "max:dotprod" OR combo STREQUAL "cortex-a53:neon")
    add_test(NAME arm_golden_ci_${cpu}_${isa} COMMAND bitnet_tests --gtest_filter=${BITNET_ARM_GOLDEN_FILTER})
    set_tests_properties(arm_golden_ci_${cpu}_${isa} PROPERTIES
      ENVIRONMENT "QEMU_CPU=${cpu};BITNET_CPU=${isa};BITNET_TEST_MAX_CASES=1" LABELS arm-ci TIMEOUT 1800)
  endif()
endforeach()

# The CLI on the emulated CPU: a short greedy run, a tiny bench, and crossval against the goldens.
add_test(NAME arm_cli_run COMMAND bitnet_cli run -m ${BITNET_TINY_TQ2} -p "Hello" -n 4 --temp 0 -t 2)
add_test(NAME arm_cli_bench COMMAND bitnet_cli bench -m ${BITNET_TINY_I2S} -p 8 -n 4 -r 1 -t 2)
add_test(NAME arm_cli_crossval COMMAND bitnet_cli crossval-per-token -m ${BITNET_TINY_TQ2}
         --b golden:${BITNET_FIXTURES_DIR}/golden-upstream/tiny-bitnet-tq2_0.p1_english.json)
set_tests_properties(arm_cli_run arm_cli_bench arm_cli_crossval PROPERTIES
  ENVIRONMENT "QEMU_CPU=max" LABELS arm-ci TIMEOUT 900)
# What x86 prints for the same greedy run; the bench row of each test on the dotprod kernels.
set_tests_properties(arm_cli_run PROPERTIES PASS_REGULAR_EXPRESSION "providerprovider Graphics Graphics")
set_tests_properties(arm_cli_bench PROPERTIES PASS_REGULAR_EXPRESSION "CPU dotprod.*pp8.*\n.*CPU dotprod.*tg4")
set_tests_properties(arm_cli_crossval PROPERTIES PASS_REGULAR_EXPRESSION "all 32 positions within tolerance")
