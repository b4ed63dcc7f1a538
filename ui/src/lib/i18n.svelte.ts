// zh-CN first; English is a switch for the few who need it. Messages from
// the backend come in both languages already.
export const lang = $state({ en: false });

const en: Record<string, string> = {
  '证书业务自助受理': 'Certificate service self-service',
  '请选择证书机构': 'Choose the certificate authority',
  '请选择业务类型': 'Choose the operation',
  '应用项目': 'Project',
  '所需材料': 'Materials to bring',
  '办理费用': 'Fee',
  '合计': 'Total',
  '下一步：填写申请表': 'Next: fill in the application',
  '返回': 'Back',
  '重新开始': 'Start over',
  '读取证书': 'Read certificate',
  '提交申请': 'Submit',
  '打印申请表': 'Print application form',
  '打印印章采样表': 'Print seal sample sheet',
  '您的排队号': 'Your queue number',
  '订单号': 'Order number',
  '柜台受理（工作人员）': 'Counter (staff)',
  '登录': 'Log in',
  '退出登录': 'Log out',
  '账号': 'Account',
  '密码': 'Password',
  '待办订单': 'Orders',
  '打开': 'Open',
  '日报': 'Day report',
  '上次同步': 'Last sync',
  '待同步': 'Pending',
  '重要提示': 'Important',
  '年限': 'Years',
  '确定': 'OK',
  '清除': 'Clear',
};

export function t(zh: string): string {
  return lang.en ? (en[zh] ?? zh) : zh;
}
