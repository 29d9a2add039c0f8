# Build the Windows bundle and installer. Run from the repository root in PowerShell:
#   py -3.11 -m venv .venv-build; .venv-build\Scripts\Activate.ps1
#   python -m pip install ".[bundle]"          # CPU or CUDA torch: see installer/README.md
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
# Needs Inno Setup 6 (iscc.exe on PATH or in its default folder) for the setup.exe step.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
python installer\windows\make_ico.py
python -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installer\windows\bcviewer.spec
$version = python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
$iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc "/DAppVersion=$version" installer\windows\bcviewer.iss
Write-Host "installer: dist\bcviewer-$version-windows-x64-setup.exe"
