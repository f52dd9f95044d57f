//! Hand-written values of the best-known variables and functions.

/// Values in the style of OE-Core's `bitbake.conf` and `logging.bbclass`
/// (written for this generator). Their dependencies are their references.
pub(crate) const KNOWN: &[(&str, &str)] = &[
    (
        "PN",
        "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[0] or 'defaultpkgname'}",
    ),
    (
        "PV",
        "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[1] or '1.0'}",
    ),
    (
        "BPN",
        "${@oe.utils.prune_suffix(d.getVar('PN'), d.getVar('SPECIAL_PKGSUFFIX').split(), d)}",
    ),
    ("BP", "${BPN}-${PV}"),
    ("P", "${PN}-${PV}"),
    ("PF", "${PN}-${EXTENDPE}${PV}-${PR}"),
    (
        "EXTENDPE",
        "${@['','${PE}_'][int(d.getVar('PE') or 0) > 0]}",
    ),
    ("PKGV", "${PV}"),
    ("PKGR", "${PR}${EXTENDPRAUTO}"),
    ("PKGE", "${@['','${PE}'][int(d.getVar('PE') or 0) > 0]}"),
    ("EXTENDPKGV", "${EXTENDPKGEVER}${PKGV}-${PKGR}"),
    ("UNPACKDIR", "${WORKDIR}/sources"),
    ("S", "${UNPACKDIR}/${BP}"),
    ("B", "${S}"),
    ("D", "${WORKDIR}/image"),
    ("T", "${WORKDIR}/temp"),
    ("base_prefix", ""),
    ("prefix", "/usr"),
    ("exec_prefix", "${prefix}"),
    ("baselib", "${BASELIB}"),
    ("bindir", "${exec_prefix}/bin"),
    ("sbindir", "${exec_prefix}/sbin"),
    ("libdir", "${exec_prefix}/${baselib}"),
    ("libexecdir", "${prefix}/libexec"),
    ("datadir", "${prefix}/share"),
    ("includedir", "${exec_prefix}/include"),
    ("sysconfdir", "${base_prefix}/etc"),
    ("localstatedir", "${base_prefix}/var"),
    ("mandir", "${datadir}/man"),
    ("docdir", "${datadir}/doc"),
    ("base_bindir", "${base_prefix}/bin"),
    ("base_sbindir", "${base_prefix}/sbin"),
    ("base_libdir", "${base_prefix}/${baselib}"),
    ("nonarch_libdir", "${exec_prefix}/lib"),
    ("nonarch_base_libdir", "${base_prefix}/lib"),
    ("systemd_unitdir", "${nonarch_base_libdir}/systemd"),
    ("systemd_system_unitdir", "${systemd_unitdir}/system"),
    ("systemd_user_unitdir", "${nonarch_libdir}/systemd/user"),
    ("servicedir", "${base_prefix}/srv"),
    ("sysvinitdir", "${sysconfdir}/init.d"),
    ("prefix_native", "/usr"),
    ("bindir_native", "${prefix_native}/bin"),
    ("libdir_native", "${prefix_native}/lib"),
    ("datadir_native", "${prefix_native}/share"),
    ("includedir_native", "${prefix_native}/include"),
    ("sysconfdir_native", "/etc"),
    ("DISTRO", "poky"),
    ("DISTRO_NAME", "Poky (Yocto Project Reference Distro)"),
    ("DISTRO_VERSION", "5.2"),
    ("MACHINE", "qemux86-64"),
    ("TCLIBC", "glibc"),
    ("TCMODE", "default"),
    (
        "SDK_VERSION",
        "${@d.getVar('DISTRO_VERSION').replace('snapshot-${METADATA_REVISION}', 'snapshot')}",
    ),
    (
        "DISTRO_FEATURES",
        "acl alsa bluetooth debuginfod ext2 ipv4 ipv6 pcmcia usbgadget usbhost wifi xattr nfs zeroconf pci 3g nfc x11 vfat seccomp opengl ptest multiarch wayland vulkan pulseaudio sysvinit gobject-introspection-data ldconfig",
    ),
    (
        "MACHINE_FEATURES",
        "alsa bluetooth usbgadget screen vfat x86 pci rtc qemu-usermode",
    ),
    (
        "COMBINED_FEATURES",
        "${@oe.utils.set_intersect('DISTRO_FEATURES', 'MACHINE_FEATURES', d)}",
    ),
    ("TARGET_VENDOR", "-poky"),
    ("TARGET_OS", "linux"),
    ("TARGET_ARCH", "${TUNE_ARCH}"),
    (
        "TARGET_SYS",
        "${TARGET_ARCH}${TARGET_VENDOR}${@['-' + d.getVar('TARGET_OS'), ''][d.getVar('TARGET_OS') == ('' or 'custom')]}",
    ),
    ("HOST_ARCH", "${TARGET_ARCH}"),
    ("HOST_OS", "${TARGET_OS}"),
    ("HOST_VENDOR", "${TARGET_VENDOR}"),
    ("HOST_SYS", "${HOST_ARCH}${HOST_VENDOR}-${HOST_OS}"),
    ("BUILD_OS", "linux"),
    ("BUILD_VENDOR", ""),
    ("BUILD_SYS", "${BUILD_ARCH}${BUILD_VENDOR}-${BUILD_OS}"),
    ("PACKAGE_ARCH", "${TUNE_PKGARCH}"),
    (
        "MULTIMACH_TARGET_SYS",
        "${PACKAGE_ARCH}${TARGET_VENDOR}-${TARGET_OS}",
    ),
    ("SOLIBS", ".so.*"),
    ("SOLIBSDEV", ".so"),
    ("SITEINFO_BITS", "64"),
    ("SITEINFO_ENDIANNESS", "le"),
    ("STAGING_DIR", "${TMPDIR}/sysroots-components"),
    ("RECIPE_SYSROOT", "${WORKDIR}/recipe-sysroot"),
    ("RECIPE_SYSROOT_NATIVE", "${WORKDIR}/recipe-sysroot-native"),
    ("STAGING_DIR_NATIVE", "${RECIPE_SYSROOT_NATIVE}"),
    (
        "STAGING_BINDIR_NATIVE",
        "${STAGING_DIR_NATIVE}${bindir_native}",
    ),
    (
        "STAGING_DATADIR_NATIVE",
        "${STAGING_DIR_NATIVE}${datadir_native}",
    ),
    ("STAGING_LIBDIR", "${STAGING_DIR_HOST}${libdir}"),
    ("STAGING_INCDIR", "${STAGING_DIR_HOST}${includedir}"),
    ("STAGING_DATADIR", "${STAGING_DIR_HOST}${datadir}"),
    (
        "STAGING_BINDIR_TOOLCHAIN",
        "${STAGING_DIR_NATIVE}${bindir_native}/${TARGET_ARCH}${TARGET_VENDOR}-${TARGET_OS}",
    ),
    ("STAGING_BINDIR_CROSS", "${STAGING_BINDIR}/crossscripts"),
    ("TARGET_PREFIX", "${TARGET_SYS}-"),
    ("HOST_PREFIX", "${TARGET_PREFIX}"),
    ("BUILD_PREFIX", ""),
    ("TUNE_ARCH", "x86_64"),
    ("TUNE_PKGARCH", "${TUNE_PKGARCH:tune-${DEFAULTTUNE}}"),
    ("TUNE_FEATURES", "${TUNE_FEATURES:tune-${DEFAULTTUNE}}"),
    (
        "TUNE_CCARGS",
        "${@bb.utils.contains('TUNE_FEATURES', 'm64', ' -m64', '', d)}${@bb.utils.contains('TUNE_FEATURES', 'core2', ' -march=core2 -mtune=core2 -msse3 -mfpmath=sse', '', d)}\nTUNE_FEATURES{core2} = Set\nTUNE_FEATURES{m64} = Set",
    ),
    ("TUNE_LDARGS", ""),
    ("TUNE_ASARGS", ""),
    ("TARGET_CC_ARCH", "${TUNE_CCARGS}"),
    ("TARGET_LD_ARCH", "${TUNE_LDARGS}"),
    ("TARGET_AS_ARCH", "${TUNE_ASARGS}"),
    ("HOST_CC_ARCH", "${TARGET_CC_ARCH}"),
    ("HOST_LD_ARCH", "${TARGET_LD_ARCH}"),
    ("HOST_AS_ARCH", "${TARGET_AS_ARCH}"),
    ("BUILD_CC_ARCH", ""),
    ("TOOLCHAIN_OPTIONS", " --sysroot=${STAGING_DIR_TARGET}"),
    (
        "CC",
        "${CCACHE}${HOST_PREFIX}gcc ${HOST_CC_ARCH}${TOOLCHAIN_OPTIONS}",
    ),
    (
        "CXX",
        "${CCACHE}${HOST_PREFIX}g++ ${HOST_CC_ARCH}${TOOLCHAIN_OPTIONS}",
    ),
    (
        "CPP",
        "${HOST_PREFIX}gcc -E${TOOLCHAIN_OPTIONS} ${HOST_CC_ARCH}",
    ),
    ("LD", "${HOST_PREFIX}ld${TOOLCHAIN_OPTIONS} ${HOST_LD_ARCH}"),
    ("CCLD", "${CC}"),
    ("AR", "${HOST_PREFIX}gcc-ar"),
    ("AS", "${HOST_PREFIX}as ${HOST_AS_ARCH}"),
    ("RANLIB", "${HOST_PREFIX}gcc-ranlib -D"),
    ("STRIP", "${HOST_PREFIX}strip"),
    ("OBJCOPY", "${HOST_PREFIX}objcopy"),
    ("OBJDUMP", "${HOST_PREFIX}objdump"),
    ("READELF", "${HOST_PREFIX}readelf"),
    ("NM", "${HOST_PREFIX}gcc-nm"),
    ("STRINGS", "${HOST_PREFIX}strings"),
    ("BUILD_CC", "${CCACHE}${BUILD_PREFIX}gcc ${BUILD_CC_ARCH}"),
    ("BUILD_CXX", "${CCACHE}${BUILD_PREFIX}g++ ${BUILD_CC_ARCH}"),
    ("BUILD_CPP", "${BUILD_PREFIX}gcc ${BUILD_CC_ARCH} -E"),
    ("BUILD_LD", "${BUILD_PREFIX}ld ${BUILD_LD_ARCH}"),
    ("BUILD_CCLD", "${BUILD_PREFIX}gcc ${BUILD_CC_ARCH}"),
    ("BUILD_AR", "${BUILD_PREFIX}ar"),
    ("BUILD_RANLIB", "${BUILD_PREFIX}ranlib -D"),
    ("BUILD_CFLAGS", "${BUILD_CPPFLAGS} ${BUILD_OPTIMIZATION}"),
    ("BUILD_CXXFLAGS", "${BUILD_CFLAGS}"),
    ("BUILD_CPPFLAGS", "-isystem${STAGING_INCDIR_NATIVE}"),
    (
        "BUILD_LDFLAGS",
        "-L${STAGING_LIBDIR_NATIVE} -L${STAGING_BASE_LIBDIR_NATIVE} -Wl,-rpath-link,${STAGING_LIBDIR_NATIVE} -Wl,-rpath,${STAGING_LIBDIR_NATIVE} -Wl,-O1 -Wl,--allow-shlib-undefined -Wl,--dynamic-linker=${UNINATIVE_LOADER}",
    ),
    ("BUILD_OPTIMIZATION", "-O2 -pipe"),
    ("CFLAGS", "${TARGET_CFLAGS}"),
    ("CXXFLAGS", "${TARGET_CXXFLAGS}"),
    ("CPPFLAGS", "${TARGET_CPPFLAGS}"),
    ("LDFLAGS", "${TARGET_LDFLAGS}"),
    ("TARGET_CPPFLAGS", ""),
    (
        "TARGET_CFLAGS",
        "${TARGET_CPPFLAGS} ${SELECTED_OPTIMIZATION}",
    ),
    ("TARGET_CXXFLAGS", "${TARGET_CFLAGS}"),
    (
        "TARGET_LDFLAGS",
        "-Wl,-O1 ${TARGET_LINK_HASH_STYLE} ${ASNEEDED} ${DEBUG_PREFIX_MAP}",
    ),
    (
        "SELECTED_OPTIMIZATION",
        "${@d.getVar(oe.utils.vartrue('DEBUG_BUILD', 'DEBUG_OPTIMIZATION', 'FULL_OPTIMIZATION', d))}",
    ),
    ("FULL_OPTIMIZATION", "-O2 ${DEBUG_LEVELFLAG}"),
    ("DEBUG_OPTIMIZATION", "-Og ${DEBUG_LEVELFLAG}"),
    ("DEBUG_LEVELFLAG", "-g"),
    (
        "DEBUG_FLAGS",
        "-g -feliminate-unused-debug-types ${DEBUG_PREFIX_MAP}",
    ),
    (
        "DEBUG_PREFIX_MAP",
        "-fcanon-prefix-map -fmacro-prefix-map=${S}=${TARGET_DBGSRC_DIR} -fdebug-prefix-map=${S}=${TARGET_DBGSRC_DIR} -fmacro-prefix-map=${B}=${TARGET_DBGSRC_DIR} -fdebug-prefix-map=${B}=${TARGET_DBGSRC_DIR} -fdebug-prefix-map=${STAGING_DIR_HOST}= -fmacro-prefix-map=${STAGING_DIR_HOST}= -fdebug-prefix-map=${STAGING_DIR_NATIVE}= -fmacro-prefix-map=${STAGING_DIR_NATIVE}=",
    ),
    ("ASNEEDED", "-Wl,--as-needed"),
    ("LINKER_HASH_STYLE", "gnu"),
    (
        "TARGET_LINK_HASH_STYLE",
        "${@['-Wl,--hash-style=gnu',''][d.getVar('LINKER_HASH_STYLE') != 'gnu']}",
    ),
    (
        "SECURITY_CFLAGS",
        "${SECURITY_STACK_PROTECTOR} ${SECURITY_PIE_CFLAGS} ${lcl_maybe_fortify} ${SECURITY_STRINGFORMAT}",
    ),
    (
        "SECURITY_LDFLAGS",
        "${SECURITY_STACK_PROTECTOR} -Wl,-z,relro,-z,now",
    ),
    ("SECURITY_STACK_PROTECTOR", "-fstack-protector-strong"),
    (
        "SECURITY_STRINGFORMAT",
        "-Wformat -Wformat-security -Werror=format-security",
    ),
    (
        "SECURITY_PIE_CFLAGS",
        "${@'' if '${GCCPIE}' else '-pie -fPIE'}",
    ),
    ("SECURITY_NOPIE_CFLAGS", "-no-pie -fno-PIE"),
    (
        "lcl_maybe_fortify",
        "${@oe.utils.conditional('DEBUG_BUILD','1','','-D_FORTIFY_SOURCE=2',d)}",
    ),
    ("GCCPIE", "--enable-default-pie"),
    ("PKG_CONFIG_DIR", "${STAGING_DIR_HOST}${libdir}/pkgconfig"),
    (
        "PKG_CONFIG_PATH",
        "${PKG_CONFIG_DIR}:${STAGING_DATADIR}/pkgconfig",
    ),
    ("PKG_CONFIG_LIBDIR", "${PKG_CONFIG_DIR}"),
    ("PKG_CONFIG_SYSROOT_DIR", "${STAGING_DIR_HOST}"),
    ("PKG_CONFIG_DISABLE_UNINSTALLED", "yes"),
    ("PKG_CONFIG_SYSTEM_LIBRARY_PATH", "${base_libdir}:${libdir}"),
    ("PKG_CONFIG_SYSTEM_INCLUDE_PATH", "${includedir}"),
    ("LC_ALL", "en_US.UTF-8"),
    ("TZ", "UTC"),
    ("PSEUDO_DISABLED", "1"),
    ("PYTHONHASHSEED", "0"),
    ("MAKE", "make"),
    ("EXTRA_OEMAKE", ""),
    (
        "bbnote",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbnote $*\" > ${LOGFIFO}\n\telse\n\t\techo \"NOTE: $*\"\n\tfi\n",
    ),
    (
        "bbwarn",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbwarn $*\" > ${LOGFIFO}\n\telse\n\t\techo \"WARNING: $*\"\n\tfi\n",
    ),
    (
        "bberror",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bberror $*\" > ${LOGFIFO}\n\telse\n\t\techo \"ERROR: $*\"\n\tfi\n",
    ),
    (
        "bbfatal",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbfatal $*\" > ${LOGFIFO}\n\telse\n\t\techo \"ERROR: $*\"\n\tfi\n\texit 1\n",
    ),
    (
        "bbfatal_log",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbfatal_log $*\" > ${LOGFIFO}\n\telse\n\t\techo \"ERROR: $*\"\n\tfi\n\texit 1\n",
    ),
    (
        "bbdebug",
        "\tUSAGE='Usage: bbdebug [123] \"message\"'\n\tif [ $# -lt 2 ]; then\n\t\tbbfatal \"$USAGE\"\n\tfi\n\tif ! [[ \"$1\" =~ ^[0-9]+$ ]] || [ \"$1\" -lt 1 ]; then\n\t\tbbfatal \"$USAGE\"\n\tfi\n\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbdebug $*\" > ${LOGFIFO}\n\tfi\n",
    ),
    (
        "bbplain",
        "\tif [ -p ${LOGFIFO} ] ; then\n\t\tprintf \"%b\\0\" \"bbplain $*\" > ${LOGFIFO}\n\telse\n\t\techo \"$*\"\n\tfi\n",
    ),
    ("die", "\tbbfatal_log \"$*\"\n"),
    (
        "oe_runmake_call",
        "\tbbnote ${MAKE} ${EXTRA_OEMAKE} \"$@\"\n\t${MAKE} ${EXTRA_OEMAKE} \"$@\"\n",
    ),
    (
        "oe_runmake",
        "\toe_runmake_call \"$@\" || die \"oe_runmake failed\"\n",
    ),
];

pub(crate) fn known_value(name: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// What a value refers to: `${NAME}`, `getVar('NAME'` and, in shell
/// bodies, the command at the start of each line.
pub(crate) fn known_refs(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let ident = |s: &str| -> usize {
        s.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let mut rest = v;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let n = ident(rest);
        if n > 0 && rest[n..].starts_with('}') {
            out.push(&rest[..n]);
        }
    }
    let mut rest = v;
    while let Some(i) = rest.find("getVar('") {
        rest = &rest[i + 8..];
        let n = ident(rest);
        if n > 0 {
            out.push(&rest[..n]);
        }
    }
    for line in v.lines() {
        let t = line.trim_start();
        let n = ident(t);
        if n > 0 && t[n..].starts_with(' ') {
            out.push(&t[..n]);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
