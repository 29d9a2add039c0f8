"""Qt-free command line: ``bcviewer info``, ``tiles``, ``predict``, ``train``, ``genes`` ..."""
