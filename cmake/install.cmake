# Installs the pattern library so that other CMake projects use it with find_package(Wharf):
#
#   cmake --install build --prefix /opt/wharf
#   # in the user's CMakeLists.txt:
#   find_package(Wharf REQUIRED)       # with CMAKE_PREFIX_PATH=/opt/wharf
#   target_link_libraries(app PRIVATE Wharf::wharf)
#
# Wharf::wharf is the library with every transport; Wharf::wharf_patterns_core plus one of
# Wharf::wharf_patterns_memory / _kafka / _embedded link less. The static libraries below the
# pattern library are installed because the embedded transport hosts the broker in-process.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# (The `wharf` name in this build is the CLI executable; the library exports as Wharf::wharf.)
add_library(wharf_library INTERFACE)
target_link_libraries(wharf_library INTERFACE wharf_patterns_core wharf_patterns_memory wharf_patterns_kafka
                      wharf_patterns_embedded wharf_patterns_reliability wharf_patterns_inbox wharf_patterns_parking
                      wharf_sql_open wharf_patterns_outbox wharf_patterns_outbox_postgres wharf_patterns_eventstore
                      wharf_patterns_saga)
set_target_properties(wharf_library PROPERTIES EXPORT_NAME wharf)

set(WHARF_INSTALLED_TARGETS
    wharf_library wharf_patterns_core wharf_patterns_reliability wharf_patterns_inbox wharf_patterns_parking wharf_patterns_memory wharf_patterns_kafka wharf_patterns_embedded
    wharf_broker wharf_admin wharf_kafka_client wharf_kafka_server wharf_kafka_group wharf_kafka_protocol wharf_storage
    wharf_io wharf_base wharf_sql wharf_sql_sqlite wharf_sql_postgres wharf_sql_open wharf_patterns_outbox
    wharf_patterns_outbox_postgres wharf_patterns_eventstore wharf_patterns_saga)
install(TARGETS ${WHARF_INSTALLED_TARGETS} EXPORT WharfTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/wharf DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT WharfTargets NAMESPACE Wharf:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Wharf)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/WharfConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/WharfConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Wharf)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/WharfConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/WharfConfig.cmake ${CMAKE_BINARY_DIR}/WharfConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Wharf)
