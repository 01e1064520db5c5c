# install.cmake: the install steps that depend on the prefix at install time (so `cmake
# --install --prefix P` and `make install PREFIX=P` both give a unit whose ExecStart is
# P/bin/cohortd) or on what is already installed. Run by install(SCRIPT) from CMakeLists.txt
# with COHORTD_SOURCE_DIR set; DESTDIR is honoured.

# The unit: packaging/cohortd.service names /usr/bin/cohortd; point it at this prefix. Written
# straight into DESTDIR (nothing is written into the build directory, which `sudo make install`
# must leave owned by whoever built it) and listed in the install manifest.
file(READ "${COHORTD_SOURCE_DIR}/packaging/cohortd.service" unit)
string(REPLACE "ExecStart=/usr/bin/cohortd " "ExecStart=${CMAKE_INSTALL_PREFIX}/bin/cohortd "
               unit "${unit}")
set(unit_path "${CMAKE_INSTALL_PREFIX}/lib/systemd/system/cohortd.service")
message(STATUS "Installing: $ENV{DESTDIR}${unit_path}")
file(WRITE "$ENV{DESTDIR}${unit_path}" "${unit}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${unit_path}")

# The config file lives in /etc whatever the prefix (the binary and the unit read
# /etc/cohortd/cohortd.conf). An existing one is the operator's and is kept.
set(conf "$ENV{DESTDIR}/etc/cohortd/cohortd.conf")
if(EXISTS "${conf}")
  message(STATUS "Kept: ${conf} (this version's example: cohortd help-config)")
else()
  file(INSTALL "${COHORTD_SOURCE_DIR}/packaging/cohortd.conf" DESTINATION "/etc/cohortd"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
