include(CMakePackageConfigHelpers)

# Public headers only: sluice/<layer>/*.hpp of the layers in the API and the
# generated ones. Private headers (sluice/<layer>/internal/), sources and the
# CLI's library are not installed.
install(FILES ${PROJECT_SOURCE_DIR}/sluice/sluice.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sluice)
foreach(target IN LISTS SLUICE_API_LAYERS)
  string(REPLACE "sluice_" "" layer ${target})
  file(GLOB public_headers ${PROJECT_SOURCE_DIR}/sluice/${layer}/*.hpp)
  install(FILES ${public_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sluice/${layer})
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/include/sluice/version.hpp ${PROJECT_BINARY_DIR}/include/sluice/config.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sluice)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice)
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/sluiceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sluiceConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sluiceConfig.cmake ${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)

configure_file(${PROJECT_SOURCE_DIR}/cmake/sluice.pc.in ${PROJECT_BINARY_DIR}/sluice.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sluice.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
