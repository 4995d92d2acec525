# The SDK as a plugin author gets it: install, then build examples/hello_plugin and a
# `hive plugin new` skeleton against the install only. Compiles two projects, so it
# runs alone.
add_test(NAME sdk_install
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk_install_test.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_install PROPERTIES LABELS sdk TIMEOUT 600 RUN_SERIAL TRUE)

# Operators install Hive: cmake --install into a prefix that is then moved, and the
# installed hive on the installed config (no source or build tree) answers /health
# and runs a task on the shipped process agent. tests/e2e/install_e2e.py --help.
add_test(NAME install_runs COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/e2e/install_e2e.py
  --build ${CMAKE_BINARY_DIR})
set_tests_properties(install_runs PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)

# The Debian package (cpack -G DEB): control fields, maintainer scripts, conffiles,
# layout and the systemd unit. tests/package_test.sh.
add_test(NAME package_deb COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(package_deb PROPERTIES LABELS sdk TIMEOUT 600 RUN_SERIAL TRUE)

# The container image definition and the Kubernetes manifests agree with Hive as
# built (probes, grace period, layers), and their config layers pass check-config.
add_test(NAME deploy_manifests COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/deploy_test.py
  --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins --source ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy_manifests PROPERTIES LABELS checks TIMEOUT 300)

# hive backup while 10,000 tasks are written, hive restore refused while that hive
# runs and into a fresh data directory, every task acknowledged before the backup
# there. tests/e2e/backup_e2e.py --help.
add_test(NAME e2e_backup_restore COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/e2e/backup_e2e.py
  --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins --tasks 10000)
set_tests_properties(e2e_backup_restore PROPERTIES LABELS "e2e" TIMEOUT 600 RUN_SERIAL TRUE)
