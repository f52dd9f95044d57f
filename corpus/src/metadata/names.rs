//! Word banks and names (in the style of OE-Core) the universe is made of.

use super::*;

/// `BB_BASEHASH_IGNORE_VARS` as OE-Core's `bitbake.conf` sets it: never task
/// dependencies, written to every siginfo (`basehash_ignore_vars`).
pub(crate) const IGNORE_VARS: &str = "TMPDIR FILE PATH PWD BB_TASKHASH BBPATH BBSERVER DL_DIR \
    SSTATE_DIR THISDIR FILESEXTRAPATHS FILE_DIRNAME HOME LOGNAME SHELL USER FILESPATH \
    STAGING_DIR_HOST STAGING_DIR_TARGET COREBASE PRSERV_HOST PRSERV_DUMPDIR PRSERV_DUMPFILE \
    PRSERV_LOCKDOWN PARALLEL_MAKE CCACHE_DIR EXTERNAL_TOOLCHAIN CCACHE CCACHE_NOHASHDIR \
    LICENSE_PATH SDKPKGSUFFIX WARN_QA WORKDIR STAMPCLEAN PKGDATA_DIR BUILD_ARCH SSTATE_PKGARCH \
    BB_WORKERCONTEXT BB_LIMITEDDEPS BB_UNIHASH extend_recipe_sysroot DEPLOY_DIR \
    SSTATE_HASHEQUIV_METHOD SSTATE_HASHEQUIV_REPORT_TASKDATA SSTATE_HASHEQUIV_OWNER \
    CCACHE_TOP_DIR BB_HASHSERVE GIT_CEILING_DIRECTORIES OMP_NUM_THREADS BB_CURRENTTASK";

/// Exported variables: dependencies of every shell function.
pub(crate) const EXPORTED: &str = "AR AS BUILD_AR BUILD_CC BUILD_CCLD BUILD_CFLAGS BUILD_CPP \
    BUILD_CPPFLAGS BUILD_CXX BUILD_CXXFLAGS BUILD_LD BUILD_LDFLAGS BUILD_RANLIB CC CCLD CFLAGS \
    CPP CPPFLAGS CXX CXXFLAGS LD LDFLAGS MAKE NM OBJCOPY OBJDUMP RANLIB READELF STRINGS STRIP \
    PKG_CONFIG_DIR PKG_CONFIG_DISABLE_UNINSTALLED PKG_CONFIG_LIBDIR PKG_CONFIG_PATH \
    PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_SYSTEM_INCLUDE_PATH PKG_CONFIG_SYSTEM_LIBRARY_PATH LC_ALL \
    TZ PSEUDO_DISABLED PYTHONHASHSEED SOURCE_DATE_EPOCH base_prefix prefix exec_prefix \
    base_bindir base_sbindir base_libdir bindir sbindir libexecdir datadir sysconfdir \
    localstatedir libdir includedir mandir docdir";

/// What the exported variables refer to.
pub(crate) const EXPORT_REFS: &str = "TARGET_PREFIX HOST_PREFIX BUILD_PREFIX HOST_CC_ARCH \
    TOOLCHAIN_OPTIONS TUNE_CCARGS TUNE_LDARGS TUNE_ASARGS TUNE_FEATURES TARGET_CC_ARCH \
    TARGET_LD_ARCH TARGET_AS_ARCH HOST_LD_ARCH HOST_AS_ARCH BUILD_CC_ARCH DEBUG_PREFIX_MAP \
    SELECTED_OPTIMIZATION FULL_OPTIMIZATION DEBUG_OPTIMIZATION DEBUG_BUILD DEBUG_FLAGS \
    DEBUG_LEVELFLAG TARGET_CFLAGS TARGET_CPPFLAGS TARGET_CXXFLAGS TARGET_LDFLAGS \
    BUILD_OPTIMIZATION BUILDSDK_CFLAGS SECURITY_CFLAGS SECURITY_LDFLAGS SECURITY_STACK_PROTECTOR \
    SECURITY_STRINGFORMAT SECURITY_PIE_CFLAGS SECURITY_NOPIE_CFLAGS lcl_maybe_fortify GCCPIE \
    ASNEEDED LINKER_HASH_STYLE TARGET_LINK_HASH_STYLE TUNE_PKGARCH TUNE_ARCH \
    STAGING_BINDIR_TOOLCHAIN STAGING_BINDIR_CROSS STAGING_LIBDIR STAGING_INCDIR STAGING_DATADIR \
    RECIPE_SYSROOT RECIPE_SYSROOT_NATIVE STAGING_DIR_NATIVE STAGING_BINDIR_NATIVE \
    STAGING_DATADIR_NATIVE CCACHE_DISABLE NATIVELSBSTRING";

pub(crate) const COMMON_VARS: &str = "PN BPN PV PR PE PF P BP PKGV PKGR PKGE EXTENDPE EXTENDPKGV \
    EXTENDPKGEVER S B D T nonarch_libdir nonarch_base_libdir systemd_unitdir \
    systemd_system_unitdir systemd_user_unitdir sysvinitdir servicedir baselib MACHINE DISTRO \
    DISTRO_FEATURES MACHINE_FEATURES COMBINED_FEATURES OVERRIDES CLASSOVERRIDE MLPREFIX \
    MULTILIB_VARIANTS BASE_WORKDIR TARGET_ARCH TARGET_OS TARGET_VENDOR TARGET_SYS HOST_ARCH \
    HOST_OS HOST_VENDOR HOST_SYS BUILD_OS BUILD_VENDOR BUILD_SYS SDK_ARCH SDK_OS SDK_VENDOR \
    SDK_SYS PACKAGE_ARCH MULTIMACH_TARGET_SYS STAGING_DIR SOLIBS SOLIBSDEV SITEINFO_BITS \
    SITEINFO_ENDIANNESS DISTRO_VERSION SDK_VERSION TCLIBC TCMODE LINUXLIBCVERSION GCCVERSION \
    BINUVERSION SDKGCCVERSION RUSTVERSION GOVERSION LLVMVERSION MACHINEOVERRIDES DISTROOVERRIDES \
    TRANSLATED_TARGET_ARCH BASEDEPENDS INHIBIT_DEFAULT_DEPS SPECIAL_PKGSUFFIX BBEXTENDCURR \
    BBEXTENDVARIANT PACKAGE_EXTRA_ARCHS OLDEST_KERNEL UNPACKDIR SDKPATH SDKPATHNATIVE \
    SDK_NAME_PREFIX TOOLCHAIN_OUTPUTNAME DISTRO_NAME TARGET_SYS_NO_EXTENSION datadir_native \
    bindir_native libdir_native includedir_native sysconfdir_native prefix_native";
pub(crate) const COMMON_SHELL: &str = "bbnote bbwarn bberror bbfatal bbfatal_log bbdebug bbplain \
    die oe_runmake oe_runmake_call oe_soinstall oe_libinstall create_wrapper \
    create_cmdline_wrapper oe_multilib_header";
pub(crate) const COMMON_PYTHON: &str = "oe.utils.conditional oe.utils.vartrue \
    oe.utils.less_or_equal oe.utils.any_distro_features oe.utils.all_distro_features \
    oe.utils.prune_suffix oe.utils.str_filter_out oe.path.join oe.path.relative \
    oe.path.copyhardlinktree oe.data.typed_value oe.qa.handle_error oe.qa.exit_if_errors \
    bb.utils.contains bb.utils.filter get_multilib_datastore";

pub(crate) const CLUSTER_NAMES: &[(Cluster, &str, &str, &str)] = &[
    (
        Cluster::Fetch,
        "SRC_URI SRC_URI[sha256sum] SRCREV SRCPV SRCREV_FORMAT SRCREV_FORMAT_default BB_FETCH_PREMIRRORONLY \
         BB_GENERATE_MIRROR_TARBALLS BB_GENERATE_SHALLOW_TARBALLS BB_GIT_SHALLOW \
         BB_GIT_SHALLOW_DEPTH BB_STRICT_CHECKSUM BB_NO_NETWORK BB_ALLOWED_NETWORKS MIRRORS \
         PREMIRRORS SOURCE_MIRROR_URL FETCHCMD_wget FETCHCMD_hg FETCHCMD_svn GITDIR \
         HGDIR SVNDIR CVSDIR BZRDIR GO_IMPORT UPSTREAM_CHECK_URI UPSTREAM_CHECK_REGEX \
         UPSTREAM_CHECK_GITTAGREGEX SOURCEFORGE_MIRROR GNU_MIRROR KERNELORG_MIRROR \
         GNOME_MIRROR DEBIAN_MIRROR APACHE_MIRROR SAVANNAH_GNU_MIRROR \
         SAVANNAH_NONGNU_MIRROR XORG_MIRROR CPAN_MIRROR GNUPG_MIRROR E_MIRROR \
         GITHUB_BASE_URI CRATES_MIRROR PYPI_SRC_URI PYPI_PACKAGE BB_FETCH_TIMEOUT \
         FETCHCMD_git BB_GIT_DEFAULT_DESTSUFFIX",
        "",
        "base_do_fetch fetcher_hashes_dummyfunc get_checksum_file_list get_lic_checksum_file_list",
    ),
    (
        Cluster::Source,
        "PATCHTOOL PATCHRESOLVE PATCH_GIT_USER_NAME PATCH_GIT_USER_EMAIL PATCHDEPENDENCY \
         PATCH_COMMIT_FUNCTIONS QUILTRCFILE PATCHDIR PATCH_SUPPORT_FILES S_SRC \
         EXTERNALSRC EXTERNALSRC_BUILD SRCTREECOVEREDTASKS UNPACK_IGNORE",
        "",
        "src_patches should_apply patch_path base_do_unpack patch_do_patch \
         unpack_git_submodules",
    ),
    (
        Cluster::Configure,
        "CONFIGUREOPTS CONFIGURE_SCRIPT CONFIGURE_FILES CONFIGURESTAMPFILE EXTRA_OECONF \
         EXTRA_AUTORECONF CACHED_CONFIGUREVARS AUTOTOOLS_SCRIPT_PATH AUTOTOOLS_AUXDIR acpaths \
         DISABLE_STATIC SITECONFIG_SYSROOTCACHE CONFIG_SITE OECMAKE_GENERATOR \
         OECMAKE_SOURCEPATH OECMAKE_BUILDPATH OECMAKE_C_FLAGS OECMAKE_CXX_FLAGS \
         OECMAKE_C_COMPILER OECMAKE_CXX_COMPILER EXTRA_OECMAKE \
         OECMAKE_FIND_ROOT_PATH_MODE_PROGRAM OECMAKE_RPATH OECMAKE_PERLNATIVE_DIR \
         MESONOPTS MESON_BUILDTYPE EXTRA_OEMESON MESON_CROSS_FILE MESON_NATIVE_FILE \
         PACKAGECONFIG PACKAGECONFIG_CONFARGS KCONFIG_CONFIG_COMMAND KBUILD_DEFCONFIG \
         KMACHINE KBRANCH KERNEL_FEATURES KCONF_AUDIT_LEVEL KCONF_BSP_AUDIT_LEVEL \
         PEP517_SOURCE_PATH EXTRA_OECONF_append_native",
        "oe_runconf autotools_do_configure autotools_preconfigure autotools_postconfigure \
         cmake_do_configure meson_do_configure base_do_configure python_pep517_do_configure \
         kernel_do_configure gnu_configize_here",
        "siteinfo_get_files autotools_aclocals cmake_system_name meson_array meson_cpu_family \
         setup_target_config",
    ),
    (
        Cluster::Compile,
        "EXTRA_OEMAKE MAKEFLAGS OECMAKE_TARGET_COMPILE KERNEL_IMAGETYPE KERNEL_IMAGETYPES \
         KERNEL_EXTRA_ARGS KERNEL_CC KERNEL_LD KERNEL_AR KERNEL_OBJCOPY PEP517_BUILD_OPTS \
         PEP517_WHEEL_PATH MESON_TARGET NINJA_ARGS CARGO_BUILD_FLAGS GO_BUILD_FLAGS \
         KERNEL_ALT_IMAGETYPE KERNEL_LOCALVERSION",
        "autotools_do_compile base_do_compile cmake_do_compile cmake_runcmake_build \
         meson_do_compile python_pep517_do_compile kernel_do_compile ninja_run",
        "",
    ),
    (
        Cluster::Install,
        "OECMAKE_TARGET_INSTALL PEP517_INSTALL_PYTHON INSTALL_MOD_PATH INSTALL_MOD_STRIP \
         MODULE_TARBALL_DEPLOY INHIBIT_UPDATERCD_BBCLASS",
        "autotools_do_install cmake_do_install meson_do_install python_pep517_do_install \
         kernel_do_install",
        "",
    ),
    (
        Cluster::License,
        "LICENSE LIC_FILES_CHKSUM COMMON_LICENSE_DIR LICENSE_FLAGS LICENSE_FLAGS_ACCEPTED \
         LICENSE_CREATE_PACKAGE LICENSE_FILES_DIRECTORY SPDXLICENSEMAP NO_GENERIC_LICENSE \
         AVAILABLE_LICENSES INCOMPATIBLE_LICENSE LICENSE_PATH_EXTRA",
        "",
        "find_license_files copy_license_files canonical_license return_spdx \
         expand_wildcard_licenses",
    ),
    (
        Cluster::Sysroot,
        "SYSROOT_DIRS SYSROOT_DIRS_NATIVE SYSROOT_DIRS_IGNORE SYSROOT_PREPROCESS_FUNCS \
         SYSROOT_DESTDIR SSTATE_SCAN_FILES SSTATE_SCAN_CMD SYSROOT_DIRS_BLACKLIST",
        "sysroot_stage_all sysroot_stage_dirs sysroot_stage_dir",
        "sysroot_strip staging_processfixme",
    ),
    (
        Cluster::Sstate,
        "SSTATE_VERSION SSTATE_PKGSPEC SSTATE_SWSPEC SSTATE_PKGNAME SSTATE_EXTRAPATH \
         SSTATE_EXTRAPATHWILDCARD SSTATE_MANMACH SSTATE_MANFILEPREFIX SSTATE_BUILDDIR \
         SSTATE_ARCHS SSTATE_ALLOW_OVERLAP_FILES SSTATE_SIG_KEY SSTATE_SIG_PASSPHRASE \
         SSTATE_VERIFY_SIG SSTATE_HASHEQUIV_FILEMAP SSTATE_ZSTD_CLEVEL SSTATE_ZSTD_NTHREADS \
         SSTATE_SKIP_CREATION SSTATE_MIRRORS SSTATE_MIRROR_ALLOW_NETWORK SSTATE_PATHSPEC \
         SSTATE_PKG SSTATE_INSTDIR SSTATEPOSTINSTFUNCS SSTATEPOSTUNPACKFUNCS \
         SSTATEPOSTCREATEFUNCS SSTATE_CURRTASK SSTATETASKS",
        "sstate_hardcode_path sstate_create_package sstate_unpack_package \
         sstate_hardcode_path_unpack sstate_create_pkgdirs",
        "sstate_task_prefunc sstate_task_postfunc sstate_install sstate_clean sstate_package \
         sstate_report_unihash sstate_add sstate_state_fromvars sstate_sign_package",
    ),
    (
        Cluster::Package,
        "PACKAGES FILES PACKAGE_BEFORE_PN PACKAGESPLITFUNCS PACKAGE_PREPROCESS_FUNCS \
         PACKAGEBUILDPKGD PACKAGE_DEPENDS PKGD PKGDEST PKGDESTWORK INHIBIT_PACKAGE_STRIP \
         INHIBIT_PACKAGE_DEBUG_SPLIT PACKAGE_DEBUG_SPLIT_STYLE PRIVATE_LIBS ALLOW_EMPTY \
         DEBIAN_NOAUTONAME RDEPENDS RRECOMMENDS RSUGGESTS RPROVIDES RREPLACES RCONFLICTS \
         EXCLUDE_FROM_SHLIBS SHLIBSDIRS SHLIBSWORKDIR PACKAGE_SNAP_LIB_SYMLINKS \
         PACKAGE_STRIP_STATIC PACKAGE_MINIDEBUGINFO PACKAGE_NO_LOCALE LOCALEBASEPN \
         LOCALE_SECTION FILES_SOLIBSDEV SECTION PACKAGE_WRITE_DEPS PACKAGEVARS \
         DEPCHAIN_PRE DEPCHAIN_POST DEPCHAIN_DBGDEFAULTDEPS PKG_CONFIG_EXTRA SKIP_FILEDEPS \
         FILERPROVIDESFLIST FILERDEPENDSFLIST DEPENDS",
        "package_do_filedeps_shell",
        "split_and_strip_files package_fixsymlinks package_depchains package_name_hook \
         package_do_filedeps emit_pkgdata populate_packages perform_packagecopy fixup_perms \
         process_split_and_strip_files package_do_shlibs package_do_pkgconfig \
         read_shlibdeps package_convert_pr_autoinc package_prepare_pkgdata \
         package_get_auto_pr split_locales split_debug_files strip_files runtime_mapping_rename \
         get_package_mapping write_if_exists",
    ),
    (
        Cluster::PackageWrite,
        "IPKGCONF_TARGET OPKGBUILDCMD OPKG_ARGS PACKAGE_FEED_ARCHS DEPLOY_DIR_IPK \
         DEPLOY_DIR_RPM PKGWRITEDIRIPK PKGWRITEDIRRPM RPM_PREFER_ELF_ARCH RPMBUILD \
         PACKAGE_ADD_METADATA PACKAGE_ADD_METADATA_IPK PACKAGE_ADD_METADATA_RPM \
         OPKG_MAKE_INDEX_EXTRA_PARAMS PACKAGE_FEED_URIS",
        "package_ipk_fakeroot",
        "do_package_ipk do_package_rpm read_subpackage_metadata write_rpm_perfiledata \
         ipk_write_pkg rpm_write_specfile",
    ),
    (
        Cluster::Qa,
        "ERROR_QA INSANE_SKIP QAPATHTEST QAPKGTEST QARECIPETEST QA_EMPTY_DIRS \
         QA_EMPTY_DIRS_RECOMMENDATION QA_SANE ALL_QA CHECKLAYER_REQUIRED_TESTS \
         UNKNOWN_CONFIGURE_OPT_IGNORE HOST_USER_UID HOST_USER_GID",
        "",
        "package_qa_check_rpath package_qa_check_dev package_qa_check_dbg \
         package_qa_check_arch package_qa_check_buildpaths package_qa_hash_style \
         package_qa_textrel package_qa_check_staticdev package_qa_check_libdir \
         package_qa_check_perm package_qa_check_unsafe_references_in_scripts \
         package_qa_check_symlink_to_sysroot package_qa_check_empty_dirs \
         package_qa_check_license package_qa_walk package_qa_check_rdepends \
         package_qa_check_deps package_qa_check_encoding package_qa_handle_error",
    ),
    (
        Cluster::Deploy,
        "DEPLOYDIR DEPLOY_DIR_IMAGE KERNEL_IMAGE_NAME KERNEL_IMAGE_LINK_NAME \
         KERNEL_DEVICETREE UBOOT_CONFIG UBOOT_MACHINE UBOOT_BINARY UBOOT_IMAGE UBOOT_SYMLINK \
         UBOOT_ENTRYPOINT UBOOT_LOADADDRESS KERNEL_ARTIFACT_NAME IMAGE_VERSION_SUFFIX \
         KERNEL_DTB_NAME MODULE_TARBALL_NAME",
        "kernel_do_deploy deploy_dtb uboot_deploy_config",
        "",
    ),
    (
        Cluster::Image,
        "IMAGE_INSTALL IMAGE_FEATURES IMAGE_FSTYPES IMAGE_ROOTFS IMAGE_NAME IMAGE_LINK_NAME \
         IMAGE_BASENAME IMAGE_ROOTFS_SIZE IMAGE_ROOTFS_EXTRA_SPACE IMAGE_OVERHEAD_FACTOR \
         IMAGE_PREPROCESS_COMMAND IMAGE_POSTPROCESS_COMMAND ROOTFS_POSTPROCESS_COMMAND \
         ROOTFS_POSTINSTALL_COMMAND IMAGE_LINGUAS IMAGE_CMD_ext4 IMAGE_CMD_tar \
         IMAGE_CMD_wic IMAGE_TYPEDEP_wic WKS_FILE WKS_FILES PACKAGE_INSTALL \
         PACKAGE_EXCLUDE ROOTFS_BOOTSTRAP_INSTALL IMAGE_MANIFEST IMAGE_NAME_SUFFIX \
         EXTRA_IMAGEDEPENDS IMAGE_BOOT_FILES IMAGE_CLASSES FEATURE_PACKAGES_ssh_server_dropbear",
        "rootfs_update_timestamp ssh_allow_empty_password read_only_rootfs_hook \
         zap_empty_root_password",
        "write_image_manifest create_rootfs write_image_test_data rootfs_reproducible \
         license_create_manifest buildhistory_list_installed_image",
    ),
];

/// Synthetic-name parts per cluster: (UPPER prefixes, lower prefixes).
pub(crate) const SYNTH: &[(Cluster, &str, &str)] = &[
    (
        Cluster::Common,
        "BASE DISTRO MACHINE TCLIBC SDK NATIVESDK LAYERSERIES BB MULTILIB",
        "oe base",
    ),
    (Cluster::Export, "TARGET BUILD HOST TUNE", "toolchain"),
    (
        Cluster::Fetch,
        "FETCH MIRROR BB_FETCH SRC_URI GIT NPM CARGO",
        "fetch mirror",
    ),
    (Cluster::Source, "PATCH UNPACK QUILT", "patch unpack"),
    (
        Cluster::Configure,
        "OECMAKE MESON AUTOTOOLS CONFIGURE CACHED KCONFIG",
        "autotools cmake meson kconfig",
    ),
    (
        Cluster::Compile,
        "MAKE KERNEL CARGO GO RUST NINJA",
        "oe_compile cargo go",
    ),
    (Cluster::Install, "INSTALL DESTDIR", "oe_install"),
    (Cluster::License, "LICENSE LIC SPDX", "license"),
    (Cluster::Sysroot, "SYSROOT STAGING", "sysroot staging"),
    (Cluster::Sstate, "SSTATE", "sstate"),
    (
        Cluster::Package,
        "PACKAGE PKG FILES SHLIB DEBUG",
        "package pkg",
    ),
    (Cluster::PackageWrite, "IPK RPM OPKG DEB", "ipk rpm"),
    (Cluster::Qa, "QA INSANE", "package_qa qa"),
    (Cluster::Deploy, "DEPLOY UBOOT KERNEL DTB", "deploy uboot"),
    (Cluster::Image, "IMAGE ROOTFS WKS INITRAMFS", "image rootfs"),
];

/// How many entries each cluster gets in total (named plus synthetic).
pub(crate) fn cluster_size(c: Cluster) -> usize {
    match c {
        Cluster::Common => 210,
        Cluster::Export => 0,
        Cluster::Fetch => 100,
        Cluster::Source => 70,
        Cluster::Configure => 150,
        Cluster::Compile => 110,
        Cluster::Install => 110,
        Cluster::License => 60,
        Cluster::Sysroot => 70,
        Cluster::Sstate => 90,
        Cluster::Package => 200,
        Cluster::PackageWrite => 80,
        Cluster::Qa => 120,
        Cluster::Deploy => 90,
        Cluster::Image => 150,
    }
}

pub(crate) const UPPER_SUFFIXES: &str = "FLAGS ARGS OPTS OPTIONS DIR DIRS PATH FEATURES CONF \
    VARS EXTRA PROVIDER SUFFIX TYPES TARGETS CMD COMMAND FUNCS LIST NAME MODE LEVEL DEPENDS \
    FILES VERSION PREFIX DEFAULT ENABLED CLASS MAP EXCLUDE INCLUDE";
pub(crate) const LOWER_VERBS: &str = "do run stage fix copy install strip check write update \
    create prepare clean emit split relocate generate find handle process setup";
pub(crate) const LOWER_NOUNS: &str = "dirs files headers libs symlinks config manifest wrapper \
    scripts hooks paths env deps sources perms locales pkgconfig la_files rpaths metadata \
    sysroot tree cache index links";

pub(crate) const WORDS: &str = "the a to of and for in is not if this that be with we it on are \
    as from by all any file files directory package packages build install target host native \
    sysroot recipe task value variable list path paths found missing empty default override \
    overrides configuration configure option options script scripts library libraries binary \
    binaries header headers source sources version versions check checks error warning note \
    unable failed skipping using create created remove removed exists copy copied link links \
    symlink symlinks relative absolute needed required should must will can may only when then \
    else each other first last new old same different support supported enable enabled disable \
    disabled feature features machine distro toolchain compiler linker flags output input \
    temporary staging image rootfs kernel module modules firmware license licenses manifest \
    checksum checksums hash signature mirror mirrors fetch fetched unpack patch patches applied \
    debug split strip stripped static shared runtime dependency dependencies provides rprovides \
    conflicts because otherwise avoid ensure keep make sure work around handle broken upstream";
pub(crate) const FLAGS: &str = "-O2 -pipe -g -feliminate-unused-debug-types \
    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wformat -Wformat-security \
    -Werror=format-security -Wl,-O1 -Wl,--hash-style=gnu -Wl,--as-needed -Wl,-z,relro,-z,now \
    -fPIC -fno-omit-frame-pointer -m64 -march=core2 -mtune=core2 -msse3 -mfpmath=sse \
    -march=armv8-a+crc -mtune=cortex-a57 -fcanon-prefix-map -fmacro-prefix-map \
    -fdebug-prefix-map -ffile-prefix-map -Wno-error -DNDEBUG -fno-strict-aliasing \
    -fvisibility=hidden -flto=auto -ffunction-sections -fdata-sections -Wl,--gc-sections \
    -fno-common -std=gnu11 -fexceptions -Os -O3 -Wall";
pub(crate) const FEATURES: &str = "x11 wayland opengl vulkan systemd pam ipv6 bluetooth wifi \
    usbhost alsa pulseaudio acl xattr seccomp selinux ptest largefile gobject-introspection-data \
    zeroconf nfs ldconfig usrmerge polkit debuginfod multiarch sysvinit 3g nfc pci smbfs ext2 \
    vfat efi keyboard serial rtc qemu-usermode screen touchscreen api-documentation gtk3 lzma \
    zstd bzip2 zlib openssl gnutls nss curl readline ncurses sqlite3 icu";
pub(crate) const DIRS: &str = "include lib share pkgconfig cmake doc man locale examples tests \
    bin sbin etc var run cache log lib64 libexec modules firmware udev rules.d systemd system \
    tmpfiles.d sysctl.d profile.d init.d default bash-completion zsh fonts icons applications \
    aclocal gtk-doc info licenses ptest debug .debug src";
pub(crate) const FILES: &str = "Makefile configure config.h config.log config.status setup.py \
    meson.build CMakeLists.txt Kconfig defconfig version.h libtool aclocal.m4 Makefile.in \
    pkgconfig.pc run-ptest README COPYING NEWS ChangeLog install.sh ltmain.sh config.guess \
    config.sub depcomp missing compile test-driver";
pub(crate) const TOOLS: &str = "pkg-config autoreconf libtoolize gcc g++ ld objcopy strip \
    install sed awk python3 meson ninja cmake make perl msgfmt gettextize intltoolize gtkdocize \
    glib-mkenums glib-compile-schemas qemu-x86_64 file patchelf chrpath opkg-build rpmbuild gzip \
    zstd xz tar cpio pseudo mkfs.ext4 mke2fs wic bmaptool depmod mkimage dtc openssl find xargs \
    cp ln mv rm chmod chown mkdir touch readelf";
pub(crate) const URL_HOSTS: &str = "downloads.yoctoproject.org/mirror/sources ftp.gnu.org/gnu \
    ftp.debian.org/debian/pool/main sourceforge.net/projects mirrors.kernel.org/pub \
    download.gnome.org/sources www.apache.org/dist github.com/archive pypi.io/packages/source \
    crates.io/api/v1/crates";
pub(crate) const LICENSES: &[&str] = &[
    "MIT",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "LGPL-2.1-or-later",
    "BSD-3-Clause",
    "Apache-2.0",
    "GPL-3.0-or-later & LGPL-3.0-or-later",
    "MIT & BSD-2-Clause",
    "Zlib",
    "ISC",
    "GPL-2.0-only & LGPL-2.1-only",
    "BSD-2-Clause",
    "MPL-2.0",
    "Apache-2.0 & MIT",
];
pub(crate) const DEP_NAMES: &str = "zlib openssl glib-2.0 libffi util-linux dbus expat ncurses \
    readline libxml2 sqlite3 curl xz bzip2 zstd libcap attr acl systemd libpam gettext-native \
    pkgconfig-native autoconf-native automake-native libtool-native cmake-native ninja-native \
    meson-native python3-native perl-native flex-native bison-native gperf-native \
    glib-2.0-native libxslt-native virtual/libintl virtual/crypt virtual/egl virtual/libgl \
    libdrm wayland wayland-native wayland-protocols";

pub(crate) fn split(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The word banks used per file, split once.
pub(crate) struct Banks {
    pub(crate) words: Vec<&'static str>,
    pub(crate) hosts: Vec<&'static str>,
    pub(crate) deps: Vec<&'static str>,
    pub(crate) features: Vec<&'static str>,
}

pub(crate) fn banks() -> &'static Banks {
    static B: OnceLock<Banks> = OnceLock::new();
    B.get_or_init(|| Banks {
        words: split(WORDS),
        hosts: split(URL_HOSTS),
        deps: split(DEP_NAMES),
        features: split(FEATURES),
    })
}
