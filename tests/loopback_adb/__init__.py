"""A loopback Android device for tests: the device side of the ADB protocol, driven by the REAL adb client.

No phone, emulator or adbd exists on CI, so this package plays the phone. A subprocess listens on a free
127.0.0.1 port (never 5555-5585), answers ``adb connect`` without authentication, and serves
``shell`` (v2: exit codes and split stdout/stderr; legacy ``shell:`` too), ``exec``, ``abb``/``abb_exec``
(streamed ``adb install``) and ``sync`` (push, pull, stat, ls). Shell commands run with /bin/sh on this
machine, in a scratch root where /data, /sdcard, /storage, /sys, /mnt, /proc/cpuinfo and /proc/meminfo are
mapped (paths in the command text are rewritten, output paths mapped back), with these device tools first
on PATH: getprop, df, dumpsys battery, am, pm, cmd package, run-as, taskset. Everything else (ls, cat,
rm, mkdir, chmod, sha256sum, ...) is this machine's.

Fixtures (tests/conftest.py, section "loopback adb device")
-----------------------------------------------------------
``adb_env`` -> dict[str, str]
    os.environ plus a private ``ANDROID_ADB_SERVER_PORT`` (free port) and ``ANDROID_SDK_HOME``; the adb
    server is started before and killed (``adb kill-server``) after the test. Pass it as ``env=`` to any
    subprocess that runs adb or ``affdeploy``. Tests FAIL (not skip) when adb is not installed.

``loopback_device`` -> ``loopback_adb.device.LoopbackDevice``, already ``adb connect``-ed and in state
"device". Parametrize indirectly with a ``DeviceConfig`` for another phone::

    @pytest.mark.parametrize("loopback_device", [DeviceConfig(model="SM-S911B", ...)], indirect=True)

Attributes and methods:
    .serial ("127.0.0.1:PORT"), .port, .env (the adb_env dict), .root (Path of the device "/"),
    .props (getprop table), .config (DeviceConfig: model, manufacturer, soc_model, abi, release, sdk,
    clusters [(first_cpu, last_cpu, max_khz)], thermal_zones, battery_celsius, battery_level,
    free_bytes, features),
    .adb(*args, timeout=30, input=None) -> CompletedProcess[str]   # `adb -s SERIAL ...`, real client
    .device_path("/data/local/tmp/x") -> Path on this machine
    .kill()                      # the phone vanishes: connections drop; adb then says "device offline"
    .set_free_bytes(n)           # /data has n bytes free from now on; a push that does not fit FAILs
                                 # with "No space left on device"; `df` reports the same numbers
    .set_temperatures(celsius | {zone: celsius}, battery=None, cool_to=None, cool_seconds=0.0)
                                 # thermal zones (/sys/class/thermal/thermal_zoneN/{type,temp}, m°C)
                                 # and `dumpsys battery` (tenths of °C); with cool_to they fall linearly
                                 # to it over cool_seconds
    .intent_log() -> [dict]      # every `am start` ({"command", "component" (full), "action",
                                 # "extras" {name: typed value}, "flags"}) and `am force-stop`
    .set_intent_handler(component_or_package, argv)
                                 # `am start` of it runs argv on this machine, detached, cwd = the
                                 # package data dir; env LOOPBACK_INTENT (the logged intent, JSON, device
                                 # paths), LOOPBACK_PACKAGE_DIR, LOOPBACK_DEVICE_ROOT (map device paths
                                 # with root / path.lstrip("/")). `am start` of a package that is not
                                 # installed fails like Android ("Error: Activity class {...} does not exist.").
    .taskset_log() -> [dict]     # every `taskset`: {"mask" hex, "cpus", "all_threads", "pid", "command"}
    .installed_packages() -> {package: {...}}   # `adb install` and `pm install` targets
    .service_log() -> [str]      # every service the adb client opened, e.g. "shell,v2,TERM=xterm,raw:ls"

What the real adb 1.0.41 client does (seen against this device; a phone behaves the same):
    * a device that vanishes DURING `adb shell CMD` ends the client with exit code 0 and no message (the
      transport just closes), so a caller must not trust rc alone (check for the expected output or
      `adb get-state`); the next command fails fast with rc 1 and "error: device offline".
    * `adb push`/`adb pull` print their errors ("adb: error: failed to copy ...: remote No space left on
      device") on STDOUT, not stderr.
    * without shell_v2 (``DeviceConfig(features=[])``) `adb shell` always exits 0, stderr is merged into
      stdout and stdin EOF never reaches the command; `adb install` then pushes and runs `pm install`.
      With the default features it streams through ``abb_exec:package install -S SIZE``; with
      ``cmd`` but no ``abb_exec`` through ``exec:cmd package 'install' -S SIZE``.

Runners: push a script with a shebang (e.g. ``#!/bin/sh`` or sys.executable) and run it through
``adb shell``; it executes on this machine in the scratch root with the environment above
(LOOPBACK_DEVICE_ROOT lets it map device paths it reads from files). An installable APK is any zip with a
plain-text AndroidManifest.xml containing ``package="..."``.
"""
