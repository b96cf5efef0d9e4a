# Install rules for users building against libbitnet outside the tree: a CMake package
# (find_package(bitnet) -> bitnet::bitnet) and a pkg-config file (pkg-config --cflags --libs bitnet).
include(CMakePackageConfigHelpers)

set(BITNET_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bitnet)
install(EXPORT bitnetTargets NAMESPACE bitnet:: DESTINATION ${BITNET_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/bitnetConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/bitnetConfig.cmake INSTALL_DESTINATION ${BITNET_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/bitnetConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/bitnetConfig.cmake ${CMAKE_BINARY_DIR}/bitnetConfigVersion.cmake
        DESTINATION ${BITNET_CMAKE_DIR})

file(RELATIVE_PATH BITNET_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${CMAKE_SOURCE_DIR}/cmake/bitnet.pc.in ${CMAKE_BINARY_DIR}/bitnet.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/bitnet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
