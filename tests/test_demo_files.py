"""demo.files: the app's output folder stays bounded, and tests never write into the shared one."""

import os
import tempfile

from demo import files


def _file(folder, name, size, mtime):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_the_cache_folder_is_this_tests_tmp_path(tmp_path, app_cache_in_tmp_path):
    assert files.CACHE_DIR == app_cache_in_tmp_path == os.environ["CONVLSTM_APP_CACHE"]
    assert files.CACHE_DIR.startswith(str(tmp_path))
    assert not files.CACHE_DIR.startswith(os.path.join(tempfile.gettempdir(), "convlstm-app"))
    stem = files.new_stem()
    assert os.path.dirname(stem) == app_cache_in_tmp_path and os.path.isdir(app_cache_in_tmp_path)
    assert stem != files.new_stem() and len(os.path.basename(stem)) == 12


def test_prune_by_age_count_and_size_never_the_youngest(tmp_path):
    now = 10_000.0
    old = _file(tmp_path, "old", 10, now - 700)  # past keep_seconds
    mid = [_file(tmp_path, f"mid{i}", 10, now - 100 - i) for i in range(4)]  # mid0 newest
    young = [_file(tmp_path, f"young{i}", 10, now - 5) for i in range(3)]  # under min_age: kept whatever the count
    os.mkdir(tmp_path / "sub")  # folders are not files: left alone
    removed = files.prune(str(tmp_path), now=now, keep_seconds=600, max_files=5, max_bytes=10**6, min_age=30)
    assert removed == 3 and not os.path.exists(old)
    assert [os.path.exists(p) for p in mid] == [True, True, False, False] and all(map(os.path.exists, young))
    assert files.prune(str(tmp_path), now=now, keep_seconds=600, max_files=100, max_bytes=35, min_age=30) == 2
    assert all(map(os.path.exists, young)) and (tmp_path / "sub").is_dir()


def test_prune_defaults_to_the_cache_folder(app_cache_in_tmp_path):
    os.makedirs(app_cache_in_tmp_path)
    stale = _file(app_cache_in_tmp_path, "stale.gif", 1, 0)
    assert files.prune() == 1 and not os.path.exists(stale)
