//! Tasks: their functions, roots, fill clusters and sizes.

use super::*;

#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// Shell wrapper calling the first root (`\tautotools_do_compile\n`).
    Shell,
    /// Python wrapper: `bb.build.exec_func('ROOT', d)`.
    Python,
    /// A custom shell body over the roots.
    CustomShell,
    /// A custom python body over the roots.
    CustomPython,
    Generic,
}

pub(crate) struct TaskSpec {
    pub(crate) task: &'static str,
    pub(crate) clusters: &'static [Cluster],
    /// Median bytes of fill beyond the task's own closure.
    pub(crate) extra: u32,
    /// (build system or any, body, roots).
    pub(crate) variants: Vec<(Option<BuildSys>, Body, &'static str)>,
}

pub(crate) fn task_specs() -> Vec<TaskSpec> {
    use BuildSys as B;
    use Cluster as C;
    let any = |body, roots| vec![(None, body, roots)];
    vec![
        TaskSpec {
            task: "do_fetch",
            clusters: &[C::Fetch],
            extra: 6_000,
            variants: any(Body::Python, "base_do_fetch fetcher_hashes_dummyfunc"),
        },
        TaskSpec {
            task: "do_unpack",
            clusters: &[C::Source, C::Fetch],
            extra: 6_000,
            variants: any(Body::Python, "base_do_unpack"),
        },
        TaskSpec {
            task: "do_patch",
            clusters: &[C::Source],
            extra: 6_000,
            variants: any(Body::Python, "patch_do_patch"),
        },
        TaskSpec {
            task: "do_preconfigure",
            clusters: &[C::Source, C::Configure],
            extra: 12_000,
            variants: any(Body::CustomShell, "S B bbnote"),
        },
        TaskSpec {
            task: "do_configure",
            clusters: &[C::Configure],
            extra: 19_000,
            variants: vec![
                (Some(B::Autotools), Body::Shell, "autotools_do_configure"),
                (Some(B::Cmake), Body::Shell, "cmake_do_configure"),
                (Some(B::Meson), Body::Shell, "meson_do_configure"),
                (Some(B::Make), Body::Shell, "base_do_configure"),
                (Some(B::Python), Body::Shell, "python_pep517_do_configure"),
                (Some(B::Kernel), Body::Shell, "kernel_do_configure"),
                (Some(B::Data), Body::CustomShell, "S B bbnote"),
            ],
        },
        TaskSpec {
            task: "do_compile",
            clusters: &[C::Compile, C::Configure],
            extra: 19_000,
            variants: vec![
                (Some(B::Autotools), Body::Shell, "autotools_do_compile"),
                (Some(B::Cmake), Body::Shell, "cmake_do_compile"),
                (Some(B::Meson), Body::Shell, "meson_do_compile"),
                (Some(B::Make), Body::CustomShell, "oe_runmake EXTRA_OEMAKE"),
                (Some(B::Python), Body::Shell, "python_pep517_do_compile"),
                (Some(B::Kernel), Body::Shell, "kernel_do_compile"),
                (Some(B::Data), Body::CustomShell, "S B"),
            ],
        },
        TaskSpec {
            task: "do_install",
            clusters: &[C::Install, C::Compile],
            extra: 19_000,
            variants: vec![
                (Some(B::Autotools), Body::Shell, "autotools_do_install"),
                (Some(B::Cmake), Body::Shell, "cmake_do_install"),
                (Some(B::Meson), Body::Shell, "meson_do_install"),
                (
                    Some(B::Make),
                    Body::CustomShell,
                    "oe_runmake D bindir libdir",
                ),
                (Some(B::Python), Body::Shell, "python_pep517_do_install"),
                (Some(B::Kernel), Body::Shell, "kernel_do_install"),
                (Some(B::Data), Body::CustomShell, "D datadir sysconfdir"),
            ],
        },
        TaskSpec {
            task: "do_populate_lic",
            clusters: &[C::License],
            extra: 6_000,
            variants: any(
                Body::CustomPython,
                "find_license_files copy_license_files sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_populate_sysroot",
            clusters: &[C::Sysroot, C::Sstate],
            extra: 17_000,
            variants: any(
                Body::CustomPython,
                "sysroot_stage_all sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_package",
            clusters: &[C::Package],
            extra: 29_000,
            variants: any(
                Body::CustomPython,
                "perform_packagecopy split_and_strip_files populate_packages emit_pkgdata",
            ),
        },
        TaskSpec {
            task: "do_packagedata",
            clusters: &[C::Package, C::Sstate],
            extra: 8_000,
            variants: any(
                Body::CustomPython,
                "emit_pkgdata sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_package_write_ipk",
            clusters: &[C::PackageWrite, C::Sstate],
            extra: 19_000,
            variants: any(
                Body::CustomPython,
                "read_subpackage_metadata do_package_ipk sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_package_write_rpm",
            clusters: &[C::PackageWrite, C::Sstate],
            extra: 19_000,
            variants: any(
                Body::CustomPython,
                "read_subpackage_metadata do_package_rpm sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_package_qa",
            clusters: &[C::Qa, C::Package],
            extra: 26_000,
            variants: any(
                Body::CustomPython,
                "package_qa_walk package_qa_check_rdepends sstate_task_prefunc sstate_task_postfunc",
            ),
        },
        TaskSpec {
            task: "do_deploy",
            clusters: &[C::Deploy, C::Sstate],
            extra: 19_000,
            variants: vec![
                (Some(B::Kernel), Body::Shell, "kernel_do_deploy"),
                (None, Body::CustomShell, "DEPLOYDIR bbnote"),
            ],
        },
        TaskSpec {
            task: "do_rootfs",
            clusters: &[C::Image, C::PackageWrite],
            extra: 60_000,
            variants: any(Body::CustomPython, "create_rootfs write_image_manifest"),
        },
        TaskSpec {
            task: "do_image",
            clusters: &[C::Image],
            extra: 53_000,
            variants: any(Body::CustomPython, "IMAGE_PREPROCESS_COMMAND IMAGE_ROOTFS"),
        },
        TaskSpec {
            task: "do_populate_lic_deploy",
            clusters: &[C::License, C::Image],
            extra: 17_000,
            variants: any(Body::CustomPython, "license_create_manifest"),
        },
        TaskSpec {
            task: "do_image_complete",
            clusters: &[C::Image, C::Sstate],
            extra: 24_000,
            variants: any(
                Body::CustomPython,
                "IMAGE_POSTPROCESS_COMMAND sstate_task_prefunc sstate_task_postfunc",
            ),
        },
    ]
}

/// For task names the model does not know (`write_siginfo` on any name).
pub(crate) fn generic_spec() -> TaskSpec {
    TaskSpec {
        task: "do_unknown",
        clusters: &[Cluster::Common],
        extra: 9_000,
        variants: vec![(None, Body::Generic, "bbnote oe.utils.conditional")],
    }
}

pub(crate) fn make_profile(
    r: &mut SplitMix64,
    stock: &Stock,
    spec: &TaskSpec,
    entries: &[Entry],
    cluster_of: &[(Cluster, bool)],
    find: &dyn Fn(&str) -> Option<usize>,
    unresolved: &mut Vec<String>,
) -> Profile {
    let words = entries.len().div_ceil(64);
    let mut fns = Vec::new();
    for &(bs, body, roots) in &spec.variants {
        let mut bits = vec![0u64; words];
        let mut root_names: Vec<(String, Kind)> = Vec::new();
        for name in split(roots) {
            match find(name) {
                Some(i) => {
                    for &c in &entries[i].closure {
                        bits[c as usize / 64] |= 1 << (c % 64);
                    }
                    root_names.push((name.to_string(), entries[i].kind));
                }
                None => unresolved.push(format!("{} -> {name}", spec.task)),
            }
        }
        // A shell task depends on every exported variable, like any shell function.
        if matches!(body, Body::Shell | Body::CustomShell) {
            for name in split(EXPORTED) {
                if let Some(i) = find(name) {
                    for &c in &entries[i].closure {
                        bits[c as usize / 64] |= 1 << (c % 64);
                    }
                }
            }
        }
        let first = root_names
            .first()
            .map(|(n, _)| n.as_str())
            .unwrap_or("bbnote");
        let value = match body {
            Body::Shell => format!("\t{first}\n"),
            Body::Python => format!("    bb.build.exec_func('{first}', d)\n"),
            Body::CustomShell => shell_body(r, &root_names, &[], Some(stock)),
            Body::CustomPython => python_body(r, &root_names, Some(stock)),
            Body::Generic => format!("    bb.note(\"{}\")\n", sentence(r)),
        };
        let j_value = json_str(&value);
        let weight = bits_to_list(&bits)
            .iter()
            .map(|&i| entries[i as usize].weight)
            .sum::<u32>()
            + (spec.task.len() + j_value.len() + 4) as u32;
        fns.push((
            bs,
            TaskFn {
                j_value,
                bits,
                weight,
            },
        ));
    }
    let candidates = (0..entries.len() as u32)
        .filter(|&i| {
            let (c, fill) = cluster_of[i as usize];
            fill && (c == Cluster::Common || spec.clusters.contains(&c))
        })
        .collect();
    Profile {
        extra: spec.extra,
        fns,
        candidates,
    }
}
