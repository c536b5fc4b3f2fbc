        def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
            kind, data = self.objects[oid]
            return kind, len(data)

        def exists_cb(self, oid: pygit2.Oid) -> bool:
            return oid in self.objects

        def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
            raise KeyError(oid)

        def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
            self.objects[oid] = (int(kind), bytes(data))

        def refresh_cb(self) -> None:
            pass

        def __iter__(self) -> Iterator[pygit2.Oid]:
            return iter(list(self.objects))

    return MemoryStore  # type: ignore[return-value]
