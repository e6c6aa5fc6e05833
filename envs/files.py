"""``"files"``: a tiny in-memory file system (ls, pwd, cd, mkdir, write_file, read_file, mv).

State: a tree of folders (dicts) and files (their text) under ``/``, and the current folder.
Names are plain (no ``/``); every tool works inside the current folder, as BFCL's file system does.
"""

from __future__ import annotations

from typing import Any

from envs.registry import register
from envs.stateful import Backend, StatefulEnv


def _doc(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": properties, "required": required},
    }


def _string(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


class FileSystem(Backend):
    DOCS = (
        _doc("ls", "List the names in the current folder (folders end with '/').", {}, []),
        _doc("pwd", "The path of the current folder.", {}, []),
        _doc(
            "cd",
            "Change the current folder to a subfolder, '..' (the parent) or '/' (the top).",
            {"folder": _string("Name of a folder in the current folder, '..' or '/'.")},
            ["folder"],
        ),
        _doc(
            "mkdir", "Make a new folder in the current folder.", {"name": _string("Folder name.")}, ["name"]
        ),
        _doc(
            "write_file",
            "Write text to a file in the current folder, creating or replacing it.",
            {"name": _string("File name."), "content": _string("The text to write.")},
            ["name", "content"],
        ),
        _doc("read_file", "Read a file in the current folder.", {"name": _string("File name.")}, ["name"]),
        _doc(
            "mv",
            "Move a file or folder of the current folder into a folder there, or rename it.",
            {
                "source": _string("Name of the file or folder to move."),
                "destination": _string("A folder of the current folder to move into, or a new name."),
            },
            ["source", "destination"],
        ),
    )

    def _load(self, config: dict[str, Any]) -> None:
        self.root = config.get("root", {})
        self.cwd: list[str] = [part for part in config.get("cwd", "/").split("/") if part]
        self._folder()  # the current folder must exist

    def _state(self) -> dict[str, Any]:
        return {"root": self.root, "cwd": self.pwd()["current_working_directory"]}

    def _folder(self) -> dict[str, Any]:
        folder = self.root
        for part in self.cwd:
            folder = folder.get(part)
            if not isinstance(folder, dict):
                raise ValueError(f"the current folder /{'/'.join(self.cwd)} does not exist")
        return folder

    @staticmethod
    def _name(value: Any, what: str) -> str:
        if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
            raise ValueError(f"{what} must be a plain name (no '/'), got {value!r}")
        return value

    def ls(self) -> dict[str, list[str]]:
        folder = self._folder()
        names = [f"{name}/" if isinstance(item, dict) else name for name, item in sorted(folder.items())]
        return {"current_directory_content": names}

    def pwd(self) -> dict[str, str]:
        return {"current_working_directory": "/" + "/".join(self.cwd)}

    def cd(self, folder: str) -> dict[str, str]:
        if folder == "/":
            self.cwd = []
        elif folder == "..":
            if not self.cwd:
                raise ValueError("already at the top folder '/'")
            self.cwd.pop()
        else:
            name = self._name(folder, "folder")
            if not isinstance(self._folder().get(name), dict):
                raise ValueError(f"no folder '{name}' in {self.pwd()['current_working_directory']}")
            self.cwd.append(name)
        return self.pwd()

    def mkdir(self, name: str) -> str:
        name = self._name(name, "name")
        folder = self._folder()
        if name in folder:
            raise ValueError(f"'{name}' already exists")
        folder[name] = {}
        return f"Made folder '{name}'."

    def write_file(self, name: str, content: str) -> str:
        name = self._name(name, "name")
        if not isinstance(content, str):
            raise ValueError(f"content must be text, got {type(content).__name__}")
        folder = self._folder()
        if isinstance(folder.get(name), dict):
            raise ValueError(f"'{name}' is a folder")
        folder[name] = content
        return f"Wrote {len(content)} characters to '{name}'."

    def read_file(self, name: str) -> dict[str, str]:
        name = self._name(name, "name")
        item = self._folder().get(name)
        if item is None:
            raise ValueError(f"no file '{name}' in {self.pwd()['current_working_directory']}")
        if isinstance(item, dict):
            raise ValueError(f"'{name}' is a folder")
        return {"content": item}

    def mv(self, source: str, destination: str) -> str:
        source = self._name(source, "source")
        destination = self._name(destination, "destination")
        folder = self._folder()
        if source not in folder:
            raise ValueError(f"no file or folder '{source}' in {self.pwd()['current_working_directory']}")
        if source == destination:
            raise ValueError("source and destination are the same")
        target = folder.get(destination)
        if isinstance(target, dict):
            if source in target:
                raise ValueError(f"'{destination}' already holds '{source}'")
            target[source] = folder.pop(source)
            return f"Moved '{source}' into '{destination}'."
        if target is not None:
            raise ValueError(f"'{destination}' already exists")
        folder[destination] = folder.pop(source)
        return f"Renamed '{source}' to '{destination}'."


@register("files")
class FilesEnv(StatefulEnv):
    """The ``FileSystem`` backend as an environment."""

    BACKEND = FileSystem
    CLASS_NAME = "FileSystem"
