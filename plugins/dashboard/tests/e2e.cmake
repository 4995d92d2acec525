# The dashboard in headless Chromium (Debian's chromium, driven by
# playwright-core from the build's npm project) against the real hive with two
# real agents: live task list, detail, a workflow's DAG, drain, plugin reload,
# reconnect through an api swap without losing an event, no console error,
# axe-core clean, 360 px; then, with security_manager, sign-in with a key and
# a viewer's narrower console. Two short hives, one browser each: about 25 s.
# Skipped (exit 77) only when chromium is not installed.
# plugins/dashboard/tests/dashboard_browser_e2e.py --help.
if(_e2e_ready AND TARGET dashboard)
  add_test(NAME e2e_dashboard_browser COMMAND /usr/bin/python3
    ${PROJECT_SOURCE_DIR}/plugins/dashboard/tests/dashboard_browser_e2e.py --hive $<TARGET_FILE:hive>
    --plugins ${CMAKE_BINARY_DIR}/plugins --modules ${CMAKE_BINARY_DIR}/plugins/dashboard/web)
  set_tests_properties(e2e_dashboard_browser PROPERTIES LABELS "e2e;browser" TIMEOUT 300 RUN_SERIAL TRUE
    SKIP_RETURN_CODE 77)
endif()
