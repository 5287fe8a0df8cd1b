"""The offline engine: runs every Pulumi program in-process under mocks that answer like AWS."""
