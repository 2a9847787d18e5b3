"""Validate real answers against the schemas /openapi.json documents for them.

`AnswerChecker` holds the served document; each answer a test records is
validated with jsonschema (Draft 2020-12, OpenAPI 3.1's dialect) against the
schema of its operation and status, and its documented required headers are
checked. It remembers which (operation, status) pairs were seen, so a test
can demand that every operation answered at least once with success.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from multidict import CIMultiDictProxy

SUCCESS = range(200, 300)


@dataclass
class AnswerChecker:
    document: dict[str, Any]
    seen: set[tuple[str, int]] = field(default_factory=set)

    def operation(self, method: str, template: str) -> dict[str, Any]:
        operations = self.document["paths"].get(template)
        assert operations is not None, f"{template} is not documented"
        found = operations.get(method.lower())
        assert found is not None, f"{method} {template} is not documented"
        return found  # type: ignore[no-any-return]

    def response_schema(self, operation: dict[str, Any], status: int) -> tuple[Any, Any]:
        response = operation["responses"].get(str(status))
        assert response is not None, f"{operation['operationId']}: {status} is not documented"
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        assert schema, f"{operation['operationId']} {status}: empty or missing schema"
        return schema, response

    def check(
        self,
        method: str,
        template: str,
        status: int,
        body: Any,
        headers: CIMultiDictProxy[str],
    ) -> None:
        operation = self.operation(method, template)
        schema, response = self.response_schema(operation, status)
        # The document's components travel with the schema so its $refs resolve.
        rooted = {"components": self.document["components"], **schema}
        errors = sorted(Draft202012Validator(rooted).iter_errors(body), key=str)
        assert not errors, (operation["operationId"], status, body, [e.message for e in errors])
        for name, header in response.get("headers", {}).items():
            resolved = self._resolve(header)
            if resolved.get("required"):
                assert name in headers, (operation["operationId"], status, f"no {name}")
        self.seen.add((operation["operationId"], status))

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        pointer = node.get("$ref")
        if pointer is None:
            return node
        target: Any = self.document
        for part in pointer.removeprefix("#/").split("/"):
            target = target[part]
        return target  # type: ignore[no-any-return]

    def operation_ids(self) -> set[str]:
        return {
            operation["operationId"]
            for operations in self.document["paths"].values()
            for operation in operations.values()
        }

    def without_success(self) -> set[str]:
        succeeded = {op for op, status in self.seen if status in SUCCESS}
        return self.operation_ids() - succeeded
