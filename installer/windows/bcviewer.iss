; Inno Setup 6 script: wraps dist\bcviewer (the PyInstaller one-folder bundle) in a setup.exe.
; Built by installer\windows\build.ps1, which passes /DAppVersion=<pyproject version>.
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{5DF3EAAC-A644-4A08-B97F-0E52BE7A8CA5}
AppName=bcviewer
AppVersion={#AppVersion}
AppPublisher=bcviewer contributors
DefaultDirName={autopf}\bcviewer
DefaultGroupName=bcviewer
; Lab IT installs for all users; a user without admin rights may still install for themselves.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=bcviewer-{#AppVersion}-windows-x64-setup
SetupIconFile=bcviewer.ico
UninstallDisplayIcon={app}\bcviewer.exe
Compression=lzma2/fast
SolidCompression=no

[Files]
Source: "..\..\dist\bcviewer\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\bcviewer"; Filename: "{app}\bcviewer.exe"
Name: "{group}\bcviewer doctor (support report)"; Filename: "{cmd}"; Parameters: "/k ""{app}\bcviewer.exe"" doctor"
Name: "{autodesktop}\bcviewer"; Filename: "{app}\bcviewer.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop icon"; Flags: unchecked

[Registry]
; `bcviewer` on PATH for cmd.exe and PowerShell (all-users installs only).
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; \
  ValueName: "Path"; ValueData: "{olddata};{app}"; Check: IsAdminInstallMode and NeedsAddPath(ExpandConstant('{app}'))

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKLM, 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment', 'Path', Path) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
