#!/usr/bin/env bash
# make dist: static webhookd binaries for linux and darwin on amd64 and arm64,
# each in a tar.gz with LICENSE, README.md and THIRD_PARTY_LICENSES (the
# license texts of every module linked into the binary, and Go's), and a
# SHA256SUMS of the archives. The version and commit are stamped in with
# -ldflags -X; `webhookd version` prints them. CGO_ENABLED=0 works because
# the SQLite driver (modernc.org/sqlite) is pure Go.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${VERSION:-$(git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev)}
commit=${COMMIT:-$(git rev-parse HEAD)}
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit-dirty"; fi
platforms=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"}
ldflags="-s -w -X github.com/webhookd/webhookd.Version=$version -X github.com/webhookd/webhookd.Commit=$commit"

rm -rf dist
mkdir -p dist

# THIRD_PARTY_LICENSES: every file named LICENSE*, COPYING* or NOTICE* at the
# root of each module the binary links (the same set on every platform above).
notices=dist/THIRD_PARTY_LICENSES
{
  echo "webhookd $version links the following modules. Their license texts follow."
  echo
  echo "== Go (the standard library and runtime)"
  echo
  cat "$(go env GOROOT)/LICENSE"
} >"$notices"
for p in $platforms; do
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/webhookd
done | sort -u | while read -r path ver dir; do
  files=$(cd "$dir" && ls | grep -E '^(LICEN[CS]E|COPYING|NOTICE)' || true)
  if [ -z "$files" ]; then
    echo "dist: no license file in $path $ver" >&2
    exit 1
  fi
  for f in $files; do
    printf '\n== %s %s (%s)\n\n' "$path" "$ver" "$f" >>"$notices"
    cat "$dir/$f" >>"$notices"
  done
done

for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  name=webhookd-$version-$os-$arch
  mkdir -p "dist/$name"
  echo "dist: $name"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "dist/$name/webhookd" ./cmd/webhookd
  cp LICENSE README.md "$notices" "dist/$name/"
  tar -C dist -czf "dist/$name.tar.gz" "$name"
  rm -rf "dist/${name:?}"
done
rm "$notices"

cd dist
if command -v sha256sum >/dev/null; then
  sha256sum -- *.tar.gz >SHA256SUMS
else
  shasum -a 256 -- *.tar.gz >SHA256SUMS
fi
cat SHA256SUMS
