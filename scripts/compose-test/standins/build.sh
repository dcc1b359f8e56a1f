#!/usr/bin/env bash
# TEST FIXTURES: builds local stand-ins for the three base images that
# Dockerfile and docker-compose.yml name, from what this machine has (its Go
# toolchain, its PostgreSQL 15 binaries, its Debian bookworm libraries), for
# a machine that reaches no image registry. README.md beside this file says
# what each one reproduces of the real image and what it does not.
#
#   build.sh tag     builds what is missing or stale, then tags the
#                    stand-ins with the real names (golang:1.26-bookworm,
#                    gcr.io/distroless/static-debian12:nonroot, postgres:15)
#   build.sh untag   removes the real names again; the stand-ins stay under
#                    authsvc-standin/* (a cache for the next run), so that a
#                    later `docker compose up --build` pulls the real images
#
# Each stand-in carries a label with a hash of what it was made from; it is
# rebuilt only when that changes. Every file of the stand-ins comes from
# this machine; nothing is fetched but Go modules, from the module proxy,
# into the golang stand-in's module cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GOROOT_HOST=$(go env GOROOT)

# standin NAME -> the real name it is tagged with during the test run.
declare -A real=(
	[authsvc-standin/golang]=golang:1.26-bookworm
	[authsvc-standin/distroless-static]=gcr.io/distroless/static-debian12:nonroot
	[authsvc-standin/postgres]=postgres:15
)

log() { echo "standins: $*" >&2; }

# copy_bin ROOTFS FILE...: FILE and the shared libraries it loads, at the
# same paths inside ROOTFS (whose /lib, /bin... are merged-/usr symlinks).
copy_bin() {
	local rootfs=$1 f lib
	shift
	for f in "$@"; do
		cp -L --parents "$f" "$rootfs"
		while read -r lib; do
			[[ -e $rootfs$lib ]] || cp -L --parents "$lib" "$rootfs"
		done < <(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true)
	done
}

# new_rootfs: an empty merged-/usr tree with /tmp, /etc and the dynamic
# loader's directory.
new_rootfs() {
	local rootfs
	rootfs=$(mktemp -d /tmp/authsvc-standin.XXXXXX)
	rootfses+=("$rootfs")
	mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,tmp,root,dev,proc,sys}
	ln -s usr/bin "$rootfs/bin"
	ln -s usr/sbin "$rootfs/sbin"
	ln -s usr/lib "$rootfs/lib"
	ln -s usr/lib64 "$rootfs/lib64"
	chmod 1777 "$rootfs/tmp"
	chmod 0700 "$rootfs/root"
	cp /etc/os-release "$rootfs/etc/os-release" 2>/dev/null || true
	echo "$rootfs"
}

# import ROOTFS NAME HASH CHANGE...: docker import of ROOTFS as NAME:latest.
import() {
	local rootfs=$1 name=$2 hash=$3
	shift 3
	local old
	old=$(docker image inspect -f '{{.Id}}' "$name:latest" 2>/dev/null) || true
	local changes=(--change "LABEL org.example.authsvc.standin=test-fixture" --change "LABEL org.example.authsvc.standin.hash=$hash")
	for c in "$@"; do changes+=(--change "$c"); done
	tar --numeric-owner -C "$rootfs" -c . | docker import "${changes[@]}" - "$name:latest" >/dev/null
	if [[ -n $old ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true # the stale one, if unused
	fi
	log "built $name"
}

fresh() { # NAME HASH: true if NAME:latest exists with that hash
	[[ $(docker image inspect -f '{{index .Config.Labels "org.example.authsvc.standin.hash"}}' "$1:latest" 2>/dev/null) == "$2" ]]
}

hash_of() { sha256sum | cut -c1-16; }

# recipe FUNC...: the source of the functions that make a stand-in, so that
# editing one stand-in's recipe rebuilds that one only.
recipe() { declare -f copy_bin new_rootfs import "$@"; }

rootfses=()
cleanup() {
	local r
	for r in "${rootfses[@]}"; do
		chmod -R u+w "$r" 2>/dev/null
		rm -rf "$r"
	done
}
trap cleanup EXIT

build_golang() {
	local name=authsvc-standin/golang hash rootfs
	# The toolchain, the modules the build downloads, and this script.
	hash=$( { go version; cat "$root/go.mod" "$root/go.sum"; recipe build_golang; } | hash_of)
	fresh "$name" "$hash" && return
	log "building $name (Go toolchain $(go env GOVERSION) and a module cache filled on the host)"
	rootfs=$(new_rootfs)
	mkdir -p "$rootfs/usr/local" "$rootfs/go/bin" "$rootfs/go/src"
	cp -a "$GOROOT_HOST" "$rootfs/usr/local/go"
	# The Dockerfile's `RUN go mod download` must find every module here:
	# the module proxy may not be reachable from inside a build container.
	# The host's own module cache serves first, the proxy what it lacks.
	(cd "$root" && GOFLAGS=-modcacherw GOMODCACHE="$rootfs/go/pkg/mod" \
		GOPROXY="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" go mod download)
	# A shell and make for the Dockerfile's RUN lines, a few tools to look
	# around with.
	copy_bin "$rootfs" /usr/bin/bash /usr/bin/dash /usr/bin/make /usr/bin/env \
		/usr/bin/ls /usr/bin/cat /usr/bin/mkdir /usr/bin/rm /usr/bin/cp /usr/bin/mv /usr/bin/id
	ln -s dash "$rootfs/usr/bin/sh"
	cp -a /etc/ssl "$rootfs/etc/ssl" 2>/dev/null || true
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$rootfs/etc/group"
	import "$rootfs" "$name" "$hash" \
		"ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		"ENV GOPATH=/go" "ENV GOTOOLCHAIN=local" "ENV GOPROXY=off" \
		"WORKDIR /go" 'CMD ["bash"]'
}

build_distroless() {
	local name=authsvc-standin/distroless-static hash rootfs
	hash=$(recipe build_distroless | hash_of)
	fresh "$name" "$hash" && return
	log "building $name"
	rootfs=$(new_rootfs)
	# What distroless/static has: users root, nobody and nonroot (65532)
	# with a private home, CA certificates, time zones; no shell.
	printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
		'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
		'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$rootfs/etc/group"
	mkdir -p "$rootfs/home/nonroot" "$rootfs/etc/ssl/certs" "$rootfs/usr/share"
	chown 65532:65532 "$rootfs/home/nonroot"
	chmod 0700 "$rootfs/home/nonroot"
	cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
	cp -a /usr/share/zoneinfo "$rootfs/usr/share/zoneinfo"
	rm -rf "$rootfs/usr/lib64" "$rootfs/lib64" # static: no dynamic loader
	import "$rootfs" "$name" "$hash" \
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		"ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
		"USER 65532" "WORKDIR /home/nonroot"
}

build_postgres() {
	local name=authsvc-standin/postgres hash rootfs f
	if [[ ! -x $PG_BIN/postgres ]]; then
		echo "standins: no PostgreSQL 15 server binaries in $PG_BIN (Debian package postgresql-15)" >&2
		return 1
	fi
	hash=$( { "$PG_BIN/postgres" --version; cat "$here/postgres-entrypoint.sh"; recipe build_postgres; } | hash_of)
	fresh "$name" "$hash" && return
	log "building $name from $PG_BIN"
	rootfs=$(new_rootfs)
	local pgroot=${PG_BIN%/bin}
	for f in postgres initdb pg_ctl pg_isready psql; do
		copy_bin "$rootfs" "$PG_BIN/$f"
	done
	# The server's loadable modules (PL/pgSQL...), without the LLVM JIT
	# (a 100 MB library the demo does not use: jit is then off).
	for f in "$pgroot"/lib/*.so; do
		[[ $f == */llvmjit* ]] || copy_bin "$rootfs" "$f"
	done
	mkdir -p "$rootfs/usr/share/postgresql"
	cp -a /usr/share/postgresql/15 "$rootfs/usr/share/postgresql/15"
	cp -a /usr/share/zoneinfo "$rootfs/usr/share/zoneinfo"
	# initdb --locale=C.UTF-8 needs glibc's compiled C.utf8 (Debian's libc-bin).
	mkdir -p "$rootfs/usr/lib/locale"
	cp -a /usr/lib/locale/C.utf8 "$rootfs/usr/lib/locale/"
	copy_bin "$rootfs" /usr/bin/bash /usr/bin/dash /usr/bin/env /usr/bin/setpriv /usr/bin/id \
		/usr/bin/mkdir /usr/bin/chown /usr/bin/chmod /usr/bin/cat /usr/bin/ls /usr/bin/rm \
		/usr/bin/locale # initdb asks `locale -a`
	ln -s dash "$rootfs/usr/bin/sh"
	# uid/gid 999, as in the official image.
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' 'postgres:x:999:999::/var/lib/postgresql:/bin/bash' >"$rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'postgres:x:999:' >"$rootfs/etc/group"
	mkdir -p "$rootfs/var/lib/postgresql/data" "$rootfs/var/run/postgresql" "$rootfs/docker-entrypoint-initdb.d"
	chown -R 999:999 "$rootfs/var/lib/postgresql" "$rootfs/var/run/postgresql"
	chmod 1777 "$rootfs/var/lib/postgresql/data"
	chmod 2777 "$rootfs/var/run/postgresql"
	install -m 0755 "$here/postgres-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
	import "$rootfs" "$name" "$hash" \
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PG_BIN" \
		"ENV PGDATA=/var/lib/postgresql/data" "ENV LANG=C.UTF-8" \
		"VOLUME /var/lib/postgresql/data" "EXPOSE 5432" \
		'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["postgres"]'
}

case ${1:-} in
tag)
	build_golang
	build_distroless
	build_postgres
	for s in "${!real[@]}"; do
		label=$(docker image inspect -f '{{index .Config.Labels "org.example.authsvc.standin"}}' "${real[$s]}" 2>/dev/null) ||
			label=absent
		if [[ $label != test-fixture && $label != absent ]]; then
			# A real image was pulled here: the test uses it as it is.
			log "${real[$s]}: using the real image found locally"
			continue
		fi
		docker tag "$s:latest" "${real[$s]}"
		log "${real[$s]} is now the local stand-in $s"
	done
	;;
untag)
	for s in "${!real[@]}"; do
		# Only a tag that points at our stand-in: never a real image.
		if [[ $(docker image inspect -f '{{index .Config.Labels "org.example.authsvc.standin"}}' "${real[$s]}" 2>/dev/null) == test-fixture ]]; then
			docker rmi "${real[$s]}" >/dev/null && log "untagged ${real[$s]}"
		fi
	done
	;;
*)
	echo "usage: $0 tag|untag" >&2
	exit 2
	;;
esac
