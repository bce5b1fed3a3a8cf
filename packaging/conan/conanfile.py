"""Conan 2 recipe for dualrerank (header-only), kept in the source tree.

    conan create packaging/conan --build=missing        # from the repository root

The recipe exports the headers of the checkout it lives in (two directories up) and reads the
version from include/dualrerank/version.hpp. CMakeDeps then generates dualrerankConfig.cmake with
the target dualrerank::dualrerank (and PkgConfigDeps a dualrerank.pc), depending on Eigen and xsimd
from Conan.
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load

required_conan_version = ">=2.0"


class DualrerankConan(ConanFile):
    name = "dualrerank"
    license = "MIT"
    description = ("Header-only generative list-wise reranking (Dual-Rerank) for CPU: AR teacher, NAR student, "
                   "SKD, LDRO, Gumbel-Max sampler, Best-of-N serving")
    topics = ("reranking", "learning-to-rank", "transformer", "simd", "header-only")
    package_type = "header-library"
    # Settings only for validate() (C++17); package_id() clears them: one package for all configurations.
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True

    @property
    def _root(self):
        return os.path.join(self.recipe_folder, "..", "..")

    def set_version(self):
        text = load(self, os.path.join(self._root, "include", "dualrerank", "version.hpp"))
        self.version = re.search(r'#define\s+DUALRERANK_VERSION_STRING\s+"([^"]+)"', text).group(1)

    def export_sources(self):
        copy(self, "*.hpp", os.path.join(self._root, "include"), os.path.join(self.export_sources_folder, "include"))
        copy(self, "LICENSE*", self._root, self.export_sources_folder)

    def requirements(self):
        # Both are public in our headers (Eigen::Map, xsimd::batch), hence transitive_headers.
        # xsimd 8.1 (Debian bookworm) is the oldest version tested; newer majors are supported by
        # core/simd.hpp (reduce_add vs hadd) but were not built here.
        self.requires("eigen/3.4.0", transitive_headers=True)
        self.requires("xsimd/[>=8.1 <14]", transitive_headers=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 17)

    def package(self):
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "dualrerank")
        self.cpp_info.set_property("cmake_target_name", "dualrerank::dualrerank")
        self.cpp_info.set_property("pkg_config_name", "dualrerank")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.requires = ["eigen::eigen3", "xsimd::xsimd"]
        # No defines and no -m flags: the consumer chooses its instruction set (-march=...).
